"""Benchmark: the trainer's cost over a bare PyTorch loop, per step and per epoch.

* **step**: :func:`heritage_core.train.train_step` against the plain ``forward → loss → zero_grad → backward →
  step`` on the same model, batch, loss (:class:`~heritage_core.train.losses.HierarchicalLoss`) and AdamW; blocks of
  steps alternate between the two so drift in machine load hits both alike; median seconds per step.
* **epoch**: the training part of a real :func:`~heritage_core.train.train_run` epoch (its ``images_per_s``:
  data loading, progress bookkeeping and preemption checks included; validation and checkpoints excluded)
  against a bare loop over a loader built the same way (same dataset, batch size and workers), run before and
  after the trainer; medians over epochs, the first epoch of each loop dropped as warm-up.

Default: ``convnext_atto`` at 64 px, batch 4, on the synthetic dataset (48 items), channels-last as
the trainer runs; CUDA when available (then bf16 autocast in both loops).

Run: ``python -m benchmarks.bench_trainer [--encoder convnext_tiny --img-size 512 --batch-size 8 --device cuda]``;
writes ``benchmarks/results/trainer.json``.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from heritage_core.data.cache import open_cache
from heritage_core.data.ingest import ingest
from heritage_core.data.loader import SegmentationDataset, build_loader
from heritage_core.data.synth import write_synthetic_dataset
from heritage_core.train.losses import HierarchicalLoss
from heritage_core.models import create_model
from heritage_core.runs import atomic_write_json, package_versions
from heritage_core.splits.protocols import make_splits, write_manifests
from heritage_core.train import read_history, train_run, train_step

RESULTS = Path(__file__).resolve().parent / "results"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_times(model: torch.nn.Module, batch: dict[str, Any], device: torch.device, steps: int, blocks: int,
                amp: bool) -> dict[str, float]:
    """Median seconds per step of the bare loop and of ``train_step``, in alternating blocks, channels-last."""
    loss_fn = HierarchicalLoss().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    images = batch["image"].to(device).contiguous(memory_format=torch.channels_last)
    targets = {h: batch[h].to(device) for h in loss_fn.heads}

    def bare() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(images)
        total, _ = loss_fn({h: v.float() for h, v in logits.items()}, targets)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    def trainer() -> None:
        train_step(model, batch, loss_fn, optimizer, scheduler, device=device, amp=amp, channels_last=True)

    times: dict[str, list[float]] = {"bare": [], "trainer": []}
    for fn in (bare, trainer):  # warm-up
        for _ in range(2):
            fn()
    for _ in range(blocks):
        for name, fn in (("bare", bare), ("trainer", trainer)):
            for _ in range(steps):
                _sync(device)
                start = time.perf_counter()
                fn()
                _sync(device)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _bare_epoch_images_per_s(cache_dir: Path, ids: list[str], args: argparse.Namespace, device: torch.device,
                             amp: bool) -> list[float]:
    torch.manual_seed(0)
    model = create_model("hierarchical", args.encoder, decoder_channels=args.decoder_channels,
                         img_size=args.img_size).to(device, memory_format=torch.channels_last)
    loader = build_loader(SegmentationDataset(open_cache(cache_dir), ids, args.img_size, train=True), args.batch_size,
                          shuffle=True, seed=0, num_workers=args.num_workers, device=device, drop_last=True)
    loss_fn = HierarchicalLoss().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    rates = []
    for _ in range(args.epochs):
        _sync(device)
        start, images = time.perf_counter(), 0
        for batch in loader:
            x = batch["image"].to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(x)
            total, _ = loss_fn({h: v.float() for h, v in logits.items()},
                               {h: batch[h].to(device, non_blocking=True) for h in loss_fn.heads})
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            images += int(x.shape[0])
        _sync(device)
        rates.append(images / (time.perf_counter() - start))
    return rates[1:] if len(rates) > 1 else rates


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a summary and write ``benchmarks/results/trainer.json``.

    Returns:
        The record written.
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_trainer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="convnext_atto")
    parser.add_argument("--img-size", type=int, default=64, help="training crop side, px")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--decoder-channels", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed block")
    parser.add_argument("--blocks", type=int, default=4, help="alternating blocks per loop")
    parser.add_argument("--epochs", type=int, default=5,
                        help="epochs per loop in the epoch comparison (first one is warm-up)")
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"

    with tempfile.TemporaryDirectory(prefix="bench_trainer_") as tmp:
        root = Path(tmp)
        write_synthetic_dataset(root / "src", n=48, seed=0, max_side_px=max(128, args.img_size))
        ingest(root / "src", root / "cache", max_side_px=max(128, args.img_size), progress=False)
        cache = open_cache(root / "cache")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            manifest = make_splits(cache.index, "random", 0)[0]
        manifest_path = write_manifests([manifest], root / "splits")[0]
        train_ids = manifest.partitions["train"]

        torch.manual_seed(0)
        model = create_model("hierarchical", args.encoder, decoder_channels=args.decoder_channels,
                             img_size=args.img_size).to(device, memory_format=torch.channels_last)
        model.train()
        dataset = SegmentationDataset(cache, train_ids[: args.batch_size], args.img_size, train=True)
        items = [dataset[i] for i in range(args.batch_size)]
        batch = {k: torch.stack([it[k] for it in items]) for k in ("image", "binary", "coarse", "fine")}
        step = _step_times(model, batch, device, args.steps, args.blocks, amp=cuda)

        variants = root / "variants.yaml"
        variants.write_text(
            "variants:\n  bench:\n    arch: hierarchical\n    stages:\n"
            "      - {name: all, epochs: 1, lr: 1.0e-4, warmup_fraction: 0.05, loss_heads: [binary, coarse, fine],"
            " trainable: ['*']}\n"
        )
        bare_rates = _bare_epoch_images_per_s(root / "cache", train_ids, args, device, cuda)
        run = train_run({
            "cache_dir": str(root / "cache"), "manifest_path": str(manifest_path), "run_dir": str(root / "run"),
            "variant": "bench", "variants_file": str(variants), "encoder": args.encoder, "img_size": args.img_size,
            "batch_size": args.batch_size, "decoder_channels": args.decoder_channels, "stage_epochs": [args.epochs],
            "device": str(device), "num_workers": args.num_workers, "progress": False,
        })
        history = read_history(run)
        trainer_rate = statistics.median(history["images_per_s"].tolist()[1:] or history["images_per_s"].tolist())
        bare_rates += _bare_epoch_images_per_s(root / "cache", train_ids, args, device, cuda)
        bare_rate = statistics.median(bare_rates)

    record = {
        "benchmark": "trainer",
        "settings": {**vars(args), "amp_bf16": cuda, "channels_last": True, "train_items": len(train_ids)},
        "step_s": step,
        "step_ratio_trainer_over_bare": step["trainer"] / step["bare"],
        "epoch_images_per_s": {"trainer": trainer_rate, "bare": bare_rate},
        "epoch_time_ratio_trainer_over_bare": bare_rate / trainer_rate,
        "device": torch.cuda.get_device_name(device) if cuda else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "versions": package_versions(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "trainer.json", record)
    print(f"step: trainer {step['trainer'] * 1e3:.1f} ms, bare {step['bare'] * 1e3:.1f} ms, "
          f"ratio {record['step_ratio_trainer_over_bare']:.3f}")
    print(f"epoch: trainer {trainer_rate:.1f} img/s, bare {bare_rate:.1f} img/s, "
          f"time ratio {record['epoch_time_ratio_trainer_over_bare']:.3f}")
    return record


if __name__ == "__main__":
    main()
