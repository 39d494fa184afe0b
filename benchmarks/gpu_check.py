"""GPU check: throughput, memory and an end-to-end smoke suite on one CUDA device, in one short script.

``make gpu-check`` = ``python -m benchmarks.gpu_check [--device cuda] [--quick] [--out FILE]``. On a CUDA machine
(within about 8 minutes) it

1. prints the GPU, the driver's CUDA, torch, timm and smp versions;
2. per paper encoder (ConvNeXt-T, MiT-B3, MaxViT-T): training throughput (img/s) and peak memory of the
   hierarchical UPerNet at 384 px, batch 16, bf16 autocast, the trainer's own step
   (:func:`heritage_core.train.train_step`), eager with and without channels-last, and ``torch.compile``d;
3. sliding-window evaluation throughput on 1024 px images (the paper's cache side; 384 px tiles, overlap 0.25,
   bf16) with :func:`heritage_core.models.tiled.predict_logits`;
4. the data loader's throughput (the training pipeline on a synthetic cache at 1024 px, 384 px crops) against
   the training step's, so a starved GPU shows;
5. the smoke profile end to end on the device (``heritage suite run`` of ``parameters/smoke.yaml`` with
   ``device`` set to it), in a temporary project root;

and writes ``benchmarks/results/gpu.json`` (per-encoder results under ``encoders``). Weights are random: the
speed does not depend on them, and nothing is downloaded. ``--device cpu --quick`` runs the same code at tiny
size (ResNet-10t, 64 px, batch 2, no compile, a 128 px evaluation) in well under 5 minutes;
``tests/test_gpu_check.py`` keeps that working.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from heritage_core.runs import atomic_write_json, package_versions

RESULTS = Path(__file__).resolve().parent / "results"
PAPER_ENCODERS = ("convnext_tiny", "mit_b3", "maxvit_tiny_tf_384")
#: Full and quick sizes: training side and batch, evaluation image side, steps timed, loader items.
SIZES = {"full": {"img": 384, "batch": 16, "eval_side": 1024, "steps": 20, "eval_images": 4, "items": 48},
         "quick": {"img": 64, "batch": 2, "eval_side": 128, "steps": 3, "eval_images": 2, "items": 18}}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batch(size: dict[str, int], device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    n, s = size["batch"], size["img"]
    return {"image": torch.randn(n, 3, s, s, generator=g), "binary": torch.randint(0, 2, (n, s, s), generator=g),
            "coarse": torch.randint(0, 5, (n, s, s), generator=g), "fine": torch.randint(0, 16, (n, s, s), generator=g)}


def train_throughput(encoder: str, size: dict[str, int], device: torch.device, *, channels_last: bool,
                     compile_model: bool) -> dict[str, Any]:
    """img/s and peak memory (MiB) of :func:`~heritage_core.train.train_step` on the hierarchical UPerNet."""
    from heritage_core.train.losses import HierarchicalLoss
    from heritage_core.models import create_model
    from heritage_core.train import train_step

    torch.manual_seed(0)
    model = create_model("hierarchical", encoder, img_size=size["img"]).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    run = torch.compile(model) if compile_model else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    loss = HierarchicalLoss()
    batch = _batch(size, device)
    amp = device.type == "cuda"
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(2):  # warm-up (and compilation)
        train_step(run, batch, loss, optimizer, scheduler, device=device, amp=amp, channels_last=channels_last)
    _sync(device)
    warm = time.perf_counter() - start
    times = []
    for _ in range(size["steps"]):
        t0 = time.perf_counter()
        train_step(run, batch, loss, optimizer, scheduler, device=device, amp=amp, channels_last=channels_last)
        _sync(device)
        times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"images_per_s": round(size["batch"] / step, 1), "step_s": round(step, 4), "warmup_s": round(warm, 1),
            "peak_mem_mib": None if peak is None else round(peak), "channels_last": channels_last,
            "compile": compile_model, "precision": "bf16" if amp else "fp32"}


def eval_throughput(encoder: str, size: dict[str, int], device: torch.device) -> dict[str, Any]:
    """Sliding-window prediction of ``eval_side`` px images with ``img`` px tiles: images/s and tiles/s."""
    from heritage_core.models.tiled import predict_logits, tile_origins
    from heritage_core.models import create_model

    model = create_model("hierarchical", encoder, img_size=size["img"]).to(device).eval()
    side, tile = size["eval_side"], size["img"]
    image = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    amp = device.type == "cuda"
    predict_logits(model, image, tile=tile, device=device, amp=amp, batch_size=16)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(size["eval_images"]):
        predict_logits(model, image, tile=tile, device=device, amp=amp, batch_size=16)
    _sync(device)
    seconds = (time.perf_counter() - t0) / size["eval_images"]
    tiles = len(tile_origins(side, tile, 0.25)) ** 2
    return {"image_side_px": side, "tile_px": tile, "overlap": 0.25, "images_per_s": round(1 / seconds, 2),
            "tiles_per_s": round(tiles / seconds, 1)}


def loader_throughput(size: dict[str, int], workers: int) -> dict[str, Any]:
    """Training items/s of the data pipeline (crops of a synthetic cache at ``eval_side`` px)."""
    from heritage_core.data.cache import open_cache
    from heritage_core.data.ingest import ingest
    from heritage_core.data.loader import SegmentationDataset, build_loader
    from heritage_core.data.synth import write_synthetic_dataset

    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_dataset(Path(tmp) / "src", n=size["items"], seed=0, max_side_px=size["eval_side"])
        ingest(Path(tmp) / "src", Path(tmp) / "cache", max_side_px=size["eval_side"], progress=False)
        cache = open_cache(Path(tmp) / "cache")
        ds = SegmentationDataset(cache, list(cache.index.index), size["img"], train=True, augment={"damage_crop_p": 0.5})
        loader = build_loader(ds, batch_size=size["batch"], shuffle=True, seed=0, num_workers=workers)
        next(iter(loader))
        t0 = time.perf_counter()
        n = sum(len(b["id"]) for b in loader)
        seconds = time.perf_counter() - t0
    return {"workers": workers, "items_per_s": round(n / seconds, 1), "crop_px": size["img"],
            "cache_side_px": size["eval_side"]}


def smoke_suite(device: str) -> dict[str, Any]:
    """The smoke profile end to end on ``device`` in a fresh project root: wall seconds and per-step status."""
    import dataclasses

    from heritage_core.suite import runner as suite
    from heritage_core.suite.profiles import load_profile

    profile = dataclasses.replace(load_profile("smoke"), device=device, name="gpu_check_smoke")
    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        report = suite.run_suite(profile, root=root, progress=False,
                                 notebooks_dir=Path(__file__).resolve().parents[1] / "notebooks")
        return {"ok": report.ok, "seconds": round(time.perf_counter() - t0, 1),
                "steps": {r.key: r.status for r in report.results}}


def device_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"device": str(device), "torch": torch.__version__, "cuda": torch.version.cuda,
                            "python": platform.python_version(), "packages": package_versions()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", cudnn=torch.backends.cudnn.version())
    return info


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the check, print each figure as it comes and write the JSON (module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (for the CPU and the test suite)")
    ap.add_argument("--out", default=str(RESULTS / "gpu.json"), help="JSON file to write")
    ap.add_argument("--skip-smoke", action="store_true", help="leave out the end-to-end smoke suite")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here; run it on a GPU machine, or pass --device cpu --quick")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    size = SIZES["quick" if args.quick else "full"]
    encoders = ("resnet10t",) if args.quick else PAPER_ENCODERS
    result: dict[str, Any] = {**device_info(device), "quick": args.quick, "sizes": size, "encoders": {}}
    print({k: result[k] for k in ("device", "torch", "cuda") if k in result} | {"gpu": result.get("gpu")}, flush=True)
    variants = [(False, False), (True, False)] + ([(True, True)] if device.type == "cuda" else [])
    for encoder in encoders:
        rows = {}
        for channels_last, compiled in variants:
            key = ("channels_last" if channels_last else "eager") + ("+compile" if compiled else "")
            try:
                rows[key] = train_throughput(encoder, size, device, channels_last=channels_last, compile_model=compiled)
            except Exception as exc:  # record and go on: one failing mode must not hide the others
                rows[key] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            print(f"{encoder:<20} train {key:<22} {rows[key]}", flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
        rows["eval"] = eval_throughput(encoder, size, device)
        print(f"{encoder:<20} eval  {rows['eval']}", flush=True)
        result["encoders"][encoder] = rows
    result["loader"] = loader_throughput(size, workers=0 if args.quick else 8)
    print(f"loader {result['loader']}", flush=True)
    first = result["encoders"][encoders[0]].get("channels_last", {})
    if "images_per_s" in first:
        result["loader_vs_step"] = round(result["loader"]["items_per_s"] / first["images_per_s"], 2)
    if not args.skip_smoke:
        result["smoke"] = smoke_suite(args.device)
        print(f"smoke suite {result['smoke']['ok']} in {result['smoke']['seconds']} s", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, result)
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
