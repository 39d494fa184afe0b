"""The curriculum trainer: stages in order, fresh optimiser per stage, model selection on ``val``, exact resume.

One call, :func:`train_run`, trains every stage of a variant into a run directory (see
:mod:`heritage_core.train.rundir` for the layout and the rules on re-runs). Per stage ``k``:

1. weights: stage 1 starts from the freshly built model (seeded); later stages from
   ``stage{k-1}_best.pt`` (weights only; optimiser and schedule are new);
2. freezing: parameters matching none of the stage's ``trainable`` patterns get ``requires_grad=False``,
   stay out of the optimiser, and modules whose parameters are all frozen run in eval mode (BatchNorm
   statistics frozen too); the trainable and total parameter counts are logged and stored in ``run.json``;
3. AdamW (weight decay on weights with >= 2 dimensions only; the fused kernel on CPU and CUDA) with linear
   warm-up and cosine decay, stepped per optimiser step;
4. every epoch: training; then, every ``val_interval`` epochs and always after a stage's last epoch,
   validation on the ``val`` partition alone: each image predicted at its cached
   scale with the sliding windows of the final evaluation (:func:`heritage_core.models.tiled.predict_logits`,
   ``tile``/``overlap`` of the config, the same numeric precision), labels predicted per head (:func:`heritage_core.models.predict`; a flat model's coarse and binary are
   derived from fine), scored with dataset-level ΣI/ΣU (:func:`heritage_core.evaluation.metrics.reduce_counts`; classes
   with ΣU = 0 excluded). The stage keeps the validated epoch with the best mIoU of its finest loss head (first
   one on ties) as ``stage{k}_best.pt``; ``stage{k}_last.pt`` is written every epoch. Epochs that are not
   validated have ``validated = False`` and NaN val columns in ``history.csv``.

The trainer never reads an image or mask of ``id_test`` or ``ood_test``: it keeps only the ``train`` and
``val`` id lists of the manifest.

Reproducibility: python, numpy and torch are seeded from ``seed``; on the CPU deterministic algorithms are
switched on (``warn_only``). Checkpoints hold every generator state, so a run killed at any point and
resumed ends with the same history and weights as an uninterrupted one (on the CPU; on GPUs up to the
non-determinism of CUDA kernels). Speed: channels-last memory format (CPU and CUDA); on CUDA bf16 autocast,
cuDNN benchmark, TF32, pinned memory, persistent workers, optional ``torch.compile``.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from heritage_core.data.cache import Cache, open_cache
from heritage_core.data.loader import SegmentationDataset, build_loader
from heritage_core.errors import ConfigError, ManifestError, RunError
from heritage_core.evaluation.metrics import SegCounts, reduce_counts
from heritage_core.models import create_model, predict
from heritage_core.models.tiled import precision_name, predict_logits
from heritage_core.models.weights import resolve_weights
from heritage_core.runs import git_commit, package_versions, params_hash, sha256_file, utc_timestamp
from heritage_core.splits.protocols import load_manifest
from heritage_core.taxonomy import HEADS, default_taxonomy
from heritage_core.train.checkpoint import (
    capture_rng_state,
    checkpoint_path,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from heritage_core.train.config import TrainConfig
from heritage_core.train.distributed import DistContext, init_distributed, resolve_device
from heritage_core.train.losses import HierarchicalLoss, class_weights_record, pixel_counts
from heritage_core.train.preemption import PreemptedError, PreemptionGuard, requeue_slurm_job
from heritage_core.train.rundir import prepare_run_dir, read_run_info, run_lock, update_run_info, write_history
from heritage_core.train.step import build_optimizer, build_scheduler, seed_everything, set_train_mode, train_step
from heritage_core.train.variants import Stage, trainable_mask

__all__ = ["train_run", "validate", "load_trained_model"]

_log = logging.getLogger("heritage_core.train")


# ----------------------------------------------------------------------------------------------- pieces


def validate(
    model: nn.Module, cache: Cache, ids: list[str], *, tile: int, overlap: float, device: torch.device,
    amp: bool = False, progress: bool = False,
) -> dict[str, float]:
    """Dataset-level val mIoU of every head (independent argmax; derived from fine for a flat model).

    Each image is predicted at its cached scale with sliding windows, exactly as the final evaluation does
    (:func:`heritage_core.models.tiled.predict_logits`), and scored against its cached mask mapped to each head;
    binary-level items count for the binary head only.

    Args:
        model: the bare model (not DDP-wrapped), on ``device``.
        cache: the ingest cache.
        ids: the ``val`` ids.
        tile: sliding-window tile side, px.
        overlap: tile overlap fraction in [0, 1).
        device: where the model lives.
        amp: bf16 autocast on CUDA (the evaluation's precision).
        progress: show a progress bar.

    Returns:
        Head -> mIoU in [0, 1] (NaN when no class of the head has a pixel in labels or predictions).
    """
    taxonomy = default_taxonomy()
    counts = {h: SegCounts(h, taxonomy.names(h)) for h in HEADS}
    for item_id in tqdm(ids, desc="val", leave=False, disable=not progress):
        logits = predict_logits(model, cache.load_image(item_id), tile=tile, overlap=overlap, device=device, amp=amp)
        preds = predict({h: v[None] for h, v in logits.items()})
        mask, level = cache.load_mask(item_id), cache.label_level(item_id)
        for head in HEADS[: HEADS.index(level) + 1]:
            label = torch.from_numpy(taxonomy.map_labels(mask, level, head, item=item_id).astype(np.int64))
            counts[head].update([item_id], preds[head][0], label)
    return {h: reduce_counts(c).miou if len(c) else float("nan") for h, c in counts.items()}


def _better(score: float, best: float | None) -> bool:
    if best is None:
        return True
    if math.isnan(score):
        return False
    return math.isnan(best) or score > best


@contextlib.contextmanager
def _torch_settings(device: torch.device, compiled: bool) -> Iterator[None]:
    """Deterministic algorithms on the CPU; cuDNN benchmark and TF32 on CUDA; restored afterwards.

    On the CPU the eager kernels' switch is set with ``torch.set_deterministic_debug_mode("warn")``, which is
    ``torch.use_deterministic_algorithms(True, warn_only=True)`` without the flag for inductor: setting that
    flag imports ``torch._inductor`` (1.2-3.4 s on a CPU core, as ``torch._dynamo`` is already imported or
    not), and only ``compiled`` models read it. Deterministic mode would also fill every new tensor with NaN
    (``torch.utils.deterministic.fill_uninitialized_memory``), a check for kernels that read memory they never
    wrote; it costs 5-7 % of a CPU training step and changes no result, so it is off while training.
    """
    saved = (torch.get_deterministic_debug_mode(), torch.utils.deterministic.fill_uninitialized_memory,
             torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision())
    if device.type == "cpu":
        _set_deterministic_mode(1, compiled)  # 1: "warn"
        torch.utils.deterministic.fill_uninitialized_memory = False
    else:
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        if device.type == "cpu":
            _set_deterministic_mode(saved[0], compiled)
            torch.utils.deterministic.fill_uninitialized_memory = saved[1]
        torch.backends.cudnn.benchmark = saved[2]
        torch.set_float32_matmul_precision(saved[3])


def _set_deterministic_mode(mode: int, compiled: bool) -> None:
    """Deterministic debug mode 0 (off), 1 (warn) or 2 (error); inductor's flag too only for ``compiled`` models."""
    if compiled:
        torch.use_deterministic_algorithms(mode > 0, warn_only=mode == 1)
    else:
        torch.set_deterministic_debug_mode(mode)


# ----------------------------------------------------------------------------------------------- trainer
class _Trainer:
    """State of one :func:`train_run` call (one process)."""

    def __init__(self, cfg: TrainConfig, ctx: DistContext, force: bool) -> None:
        self.cfg, self.ctx, self.force = cfg, ctx, force
        self.run_dir = Path(cfg.run_dir).resolve()
        self.device = resolve_device(cfg.device, ctx.local_rank)
        self.cuda = self.device.type == "cuda"
        self.amp = cfg.amp and self.cuda
        self.channels_last = cfg.channels_last
        self.progress = cfg.progress and ctx.is_main
        self.variant = cfg.variant_spec()
        self.stages = cfg.stages()
        self.cache = open_cache(cfg.cache_dir)
        manifest = load_manifest(cfg.manifest_path, self.cache)
        # Only the ids the trainer may touch are kept: id_test and ood_test never leave this scope.
        self.train_ids = list(manifest.partitions["train"])
        self.val_ids = list(manifest.partitions["val"])
        for name, ids in (("train", self.train_ids), ("val", self.val_ids)):
            if not ids:
                raise ManifestError(f"manifest '{cfg.manifest_path}' has an empty '{name}' partition; training needs "
                                    f"train and val items, re-run 01_splits with other fractions")
        identity = {**cfg.identity(), "dataset_fingerprint": self.cache.fingerprint,
                    "manifest_sha256": sha256_file(cfg.manifest_path)}
        self.params_hash = params_hash(identity)
        # resolved here, before anything trains: a missing weights file or tag fails the run now, naming it
        self.weights_file = (None if cfg.pretrained is None
                             else resolve_weights(cfg.pretrained, cfg.encoder, weights_dir=cfg.weights_dir))
        self.info = {
            "params": cfg.to_dict(), "identity": identity, "params_hash": self.params_hash,
            "variant": cfg.variant, "arch": self.variant.arch, "description": self.variant.description,
            "protocol": manifest.protocol, "fold": manifest.fold, "held_out": manifest.held_out,
            "split_seed": manifest.seed, "seed": cfg.seed, "encoder": cfg.encoder, "img_size": cfg.img_size,
            "inference": {"tile": cfg.eval_tile, "overlap": cfg.overlap,
                          "precision": precision_name(self.device, self.amp)},
            "init": "pretrained" if cfg.pretrained else "random",
            "weights": None if self.weights_file is None else {
                "pretrained": cfg.pretrained, "file": str(self.weights_file), "sha256": sha256_file(self.weights_file)},
            "cache": str(Path(cfg.cache_dir).resolve()), "manifest": str(Path(cfg.manifest_path).resolve()),
            "git_commit": git_commit(), "dataset_fingerprint": self.cache.fingerprint,
            "package_versions": package_versions(), "stages": [s.to_dict() for s in self.stages],
            "n_images": {"train": len(self.train_ids), "val": len(self.val_ids)},
            "world_size": ctx.world_size, "device": str(self.device),
        }
        self.guard = PreemptionGuard()
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ helpers
    def _say(self, message: str) -> None:
        if self.ctx.is_main:
            _log.info(message)
            if self.progress:
                tqdm.write(message)

    def _build_model(self) -> nn.Module:
        cfg = self.cfg
        seed_everything(cfg.seed)
        model = create_model(self.variant.arch, cfg.encoder, decoder_channels=cfg.decoder_channels,
                             pretrained=None if self.weights_file is None else str(self.weights_file),
                             img_size=cfg.img_size)
        if self.ctx.distributed and self.cuda:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.ctx.rank:
            seed_everything(cfg.seed + self.ctx.rank)
        return model

    def _build_loader(self) -> torch.utils.data.DataLoader:
        cfg = self.cfg
        dataset = SegmentationDataset(self.cache, self.train_ids, cfg.img_size, train=True,
                                      augment=_augment_settings(cfg.augment))
        if cfg.batches_per_epoch is not None and self.ctx.distributed:
            raise ConfigError("TrainConfig.batches_per_epoch is for single-process runs; under torchrun leave it null "
                              "(one pass over the train partition per epoch)")
        fixed = None if cfg.batches_per_epoch is None else cfg.batches_per_epoch * cfg.batch_size
        loader = build_loader(dataset, cfg.batch_size, shuffle=True, seed=cfg.seed,
                              num_workers=cfg.num_workers, device=self.device,
                              drop_last=fixed is None and len(dataset) > cfg.batch_size,
                              distributed=self.ctx.distributed, num_samples=fixed)
        # The batch stream comes from the sampler's generator. Worker base seeds are drawn from
        # loader.generator whenever an iterator is created, which with persistent workers happens once per
        # process, not once per epoch; a separate generator keeps those draws out of the batch stream, so a
        # resumed process regenerates exactly the batches of the interrupted one.
        loader.generator = torch.Generator().manual_seed(cfg.seed + 7919 * (self.ctx.rank + 1))
        return loader

    def _class_weights(self) -> dict[str, list[float]]:
        if not self.cfg.class_weights:
            return {}
        info = read_run_info(self.run_dir)
        if info.get("class_weights"):
            return {h: rec["weights"] for h, rec in info["class_weights"].items()}
        heads = ("fine",) if self.variant.arch == "flat" else HEADS
        records = {h: class_weights_record(pixel_counts(self.cache, self.train_ids, h), h) for h in heads}
        update_run_info(self.run_dir, class_weights=records)
        return {h: rec["weights"] for h, rec in records.items()}

    def _resume_point(self) -> tuple[int, dict[str, Any] | None, dict[str, Any] | None]:
        """(stage index to run, its checkpoint to resume or None, the previous stage's last checkpoint or None)."""
        for k in reversed(range(len(self.stages))):
            path = checkpoint_path(self.run_dir, k + 1, "last")
            if path.is_file():
                ckpt = load_checkpoint(path, self.params_hash)
                if ckpt["epoch"] >= self.stages[k].epochs:
                    return k + 1, None, ckpt
                return k, ckpt, None
        return 0, None, None

    def _rank_state(self, ckpt: dict[str, Any]) -> dict[str, Any]:
        states = ckpt["rng"]
        if len(states) != self.ctx.world_size:
            _log.warning("checkpoint was written by %d processes, this job has %d: generator states of rank 0 reused",
                         len(states), self.ctx.world_size)
            return states[0]
        return states[self.ctx.rank]

    # ------------------------------------------------------------------ run
    def run(self) -> Path:
        with contextlib.ExitStack() as stack:

            def prepare() -> str:
                stack.enter_context(run_lock(self.run_dir))
                return prepare_run_dir(self.run_dir, self.info, self.force)

            state = self.ctx.on_main(prepare)
            if state == "finished":
                self._say(f"run '{self.run_dir}' is finished; nothing to do (force=True retrains it)")
                return self.run_dir
            try:
                with self.guard, _torch_settings(self.device, self.cfg.compile):
                    self._train()
            except PreemptedError as exc:
                if self.ctx.is_main:
                    update_run_info(self.run_dir, preempted=utc_timestamp(), last_event=str(exc))
                    requeue_slurm_job()
                raise
            except BaseException as exc:
                if self.ctx.is_main:
                    update_run_info(self.run_dir, status="failed", error=f"{type(exc).__name__}: {exc}",
                                    failed=utc_timestamp())
                raise
        return self.run_dir

    def _train(self) -> None:
        class_weights = self.ctx.on_main(self._class_weights)
        self.class_weights = {h: torch.tensor(w, dtype=torch.float32) for h, w in class_weights.items()}
        start, ckpt, previous = self._resume_point()
        model = self._build_model()
        self.loader = self._build_loader()
        self.sampler_generator: torch.Generator = self.loader.sampler.generator
        if previous is not None:
            self.history = list(previous["history"])
            restore_rng_state(self._rank_state(previous), self.sampler_generator)
        for k in range(start, len(self.stages)):
            if ckpt is not None:
                self.history = list(ckpt["history"])
                model.load_state_dict(ckpt["model"])
            elif k > 0:
                best = load_checkpoint(checkpoint_path(self.run_dir, k, "best"), self.params_hash)
                model.load_state_dict(best["model"])
            self._run_stage(k, model, ckpt)
            ckpt = None
        self.ctx.barrier()
        if self.ctx.is_main:
            self._finish()

    def _finish(self) -> None:
        selection = []
        for k, stage in enumerate(self.stages, start=1):
            best_row: dict[str, Any] | None = None
            for row in (r for r in self.history if r["stage"] == k and r.get("validated", True)):
                if _better(row["val_score"], None if best_row is None else best_row["val_score"]):
                    best_row = row
            if best_row is None:
                raise RunError(f"run '{self.run_dir}': history.csv has no epoch of stage {k}; re-run with force=True")
            selection.append({"stage": k, "stage_name": stage.name, "selection_head": stage.selection_head,
                              "best_epoch": best_row["epoch"], "val_score": best_row["val_score"],
                              **{f"val_miou_{h}": best_row[f"val_miou_{h}"] for h in HEADS}})
        last = len(self.stages)
        update_run_info(self.run_dir, status="finished", finished=utc_timestamp(), selection=selection,
                        best_checkpoint=f"checkpoints/stage{last}_best.pt", val=selection[-1])
        self._say(f"finished: best stage-{last} epoch {selection[-1]['best_epoch']}, "
                  f"val mIoU({self.stages[-1].selection_head}) = {selection[-1]['val_score']:.4f}")

    # ------------------------------------------------------------------ stage
    def _run_stage(self, k: int, model: nn.Module, ckpt: dict[str, Any] | None) -> None:
        cfg, stage = self.cfg, self.stages[k]
        mask = trainable_mask([n for n, _ in model.named_parameters()], stage)
        for name, p in model.named_parameters():
            p.requires_grad_(mask[name])
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
        n_total = sum(p.numel() for p in model.parameters())
        self._say(f"stage {k + 1}/{len(self.stages)} '{stage.name}': {stage.epochs} epochs, lr {stage.lr:g}, loss "
                  f"heads {list(stage.loss_heads)}, trainable parameters {n_train:,} of {n_total:,}")
        if self.ctx.is_main:
            info = read_run_info(self.run_dir)
            counts = dict(info.get("trainable_params", {}))
            counts[str(k + 1)] = {"stage_name": stage.name, "trainable": n_train, "total": n_total}
            update_run_info(self.run_dir, trainable_params=counts)
        optimizer = build_optimizer(model, stage.lr, cfg.weight_decay)
        steps = len(self.loader)
        if cfg.max_batches_per_epoch is not None:
            steps = min(steps, cfg.max_batches_per_epoch)
        scheduler = build_scheduler(optimizer, stage, steps)
        loss_fn = HierarchicalLoss(weights=cfg.loss_weights, heads=stage.loss_heads,
                                   class_weights={h: w for h, w in self.class_weights.items() if h in stage.loss_heads})
        loss_fn = loss_fn.to(self.device)
        best: dict[str, Any] = {"epoch": 0, "score": None}
        start_epoch = 0
        if ckpt is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            best, start_epoch = dict(ckpt["best"]), int(ckpt["epoch"])
        train_model: nn.Module = model
        if self.ctx.distributed:
            unused = any(mask[n] and n.startswith("heads.") and n.split(".")[1] not in stage.loss_heads for n in mask)
            train_model = DistributedDataParallel(model, device_ids=[self.device.index] if self.cuda else None,
                                                  find_unused_parameters=unused)
        if cfg.compile:
            train_model = torch.compile(train_model)
        parts = _StageParts(k, stage, model, train_model, optimizer, scheduler, loss_fn, steps)
        for epoch in range(start_epoch, stage.epochs):
            best = self._run_epoch(parts, epoch, best, ckpt if epoch == start_epoch else None)
            if self.ctx.any_flag(self.guard.requested, self.device):
                raise PreemptedError(f"preempted by {self.guard.signal_name or 'a signal on another rank'} after stage "
                                     f"{k + 1} epoch {epoch + 1}; checkpoint saved, re-run to resume")

    def _run_epoch(
        self, p: _StageParts, epoch: int, best: dict[str, Any], ckpt: dict[str, Any] | None
    ) -> dict[str, Any]:
        cfg, gen = self.cfg, self.sampler_generator
        if self.ctx.distributed:
            self.loader.sampler.set_epoch(sum(s.epochs for s in self.stages[: p.k]) + epoch)
        rank_state = self._rank_state(ckpt) if ckpt is not None else None
        skip = int(ckpt["step_in_epoch"]) if ckpt is not None else 0
        if rank_state is not None and skip == 0:
            restore_rng_state(rank_state, gen)
        if skip:
            gen.set_state(rank_state["epoch_start_loader"])
            partial = dict(rank_state["partial"])
        else:
            partial = {"loss_total": 0.0, **{f"loss_{h}": 0.0 for h in p.stage.loss_heads}, "steps": 0, "images": 0,
                       "train_seconds": 0.0, "lr": float("nan")}
        epoch_start_loader = gen.get_state()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        set_train_mode(p.model)
        batches = iter(self.loader)
        for _ in range(skip):
            next(batches)
        if skip:
            restore_rng_state(rank_state, gen)
        desc = f"stage {p.k + 1}/{len(self.stages)} {p.stage.name} epoch {epoch + 1}/{p.stage.epochs}"
        bar = tqdm(total=p.steps, initial=skip, desc=desc, leave=False, disable=not self.progress)
        t0 = time.perf_counter()
        for step, batch in zip(range(skip, p.steps), batches):
            partial["lr"] = float(p.optimizer.param_groups[0]["lr"])
            total, per_head = train_step(p.train_model, batch, p.loss_fn, p.optimizer, p.scheduler,
                                         device=self.device, amp=self.amp, channels_last=self.channels_last,
                                         grad_clip_norm=cfg.grad_clip_norm)
            partial["loss_total"] += total
            for h, v in per_head.items():
                partial[f"loss_{h}"] += v
            partial["steps"] += 1
            partial["images"] += int(batch["image"].shape[0])
            bar.update(1)
            bar.set_postfix(loss=f"{total:.4f}")
            if step + 1 < p.steps and self.ctx.any_flag(self.guard.requested, self.device):
                partial["train_seconds"] += time.perf_counter() - t0
                self._save(p, epoch, step + 1, best, partial, epoch_start_loader, improved=False)
                bar.close()
                raise PreemptedError(
                    f"preempted by {self.guard.signal_name or 'a signal on another rank'} in stage {p.k + 1} epoch "
                    f"{epoch + 1} after step {step + 1}/{p.steps}; checkpoint saved, re-run to resume"
                )
        bar.close()
        partial["train_seconds"] += time.perf_counter() - t0
        t1 = time.perf_counter()
        validated = (epoch + 1) % cfg.val_interval == 0 or epoch + 1 == p.stage.epochs
        if validated:
            scores = self.ctx.on_main(lambda: validate(p.model, self.cache, self.val_ids, tile=cfg.eval_tile,
                                                       overlap=cfg.overlap, device=self.device, amp=self.amp,
                                                       progress=self.progress))
            set_train_mode(p.model)
        else:
            scores = {h: float("nan") for h in HEADS}
        score = scores[p.stage.selection_head]
        improved = validated and _better(score, best["score"])
        if improved:
            best = {"epoch": epoch + 1, "score": score}
        n = max(partial["steps"], 1)
        world = self.ctx.world_size
        keys = ["loss_total", *(f"loss_{h}" for h in p.stage.loss_heads)]
        # every rank runs the same number of steps, so the mean of the ranks' means is the mean over all steps
        ranks = self.ctx.gather({k: partial[k] / n for k in keys})
        means = {k: sum(r[k] for r in ranks) / world for k in keys}
        row = {
            "stage": p.k + 1, "stage_name": p.stage.name, "epoch": epoch + 1, "lr": partial["lr"],
            **{f"loss_{h}": means.get(f"loss_{h}", float("nan")) for h in HEADS},
            "loss_total": means["loss_total"],
            "validated": validated, **{f"val_miou_{h}": scores[h] for h in HEADS}, "val_score": score,
            "seconds": partial["train_seconds"] + time.perf_counter() - t1,
            "images_per_s": partial["images"] * world / max(partial["train_seconds"], 1e-9),
            "peak_mem_mb": torch.cuda.max_memory_allocated(self.device) / 2**20 if self.cuda else float("nan"),
        }
        self.history.append(row)
        self._save(p, epoch + 1, 0, best, None, None, improved=improved)
        scored = ", val mIoU " + ", ".join(f"{h} {scores[h]:.4f}" for h in HEADS) if validated else ""
        self._say(f"{desc}: loss {row['loss_total']:.4f}{scored} ({row['seconds']:.1f} s)" + (" *best*" if improved else ""))
        return best

    def _save(self, p: _StageParts, epoch: int, step_in_epoch: int, best: dict[str, Any],
              partial: dict[str, Any] | None, epoch_start_loader: torch.Tensor | None, *, improved: bool) -> None:
        """Checkpoint (rank 0 writes; every rank contributes its generator states)."""
        state = capture_rng_state(self.sampler_generator)
        state["partial"] = partial
        state["epoch_start_loader"] = epoch_start_loader
        states = self.ctx.gather(state)
        if self.ctx.is_main:
            payload = {
                "model": p.model.state_dict(), "optimizer": p.optimizer.state_dict(),
                "scheduler": p.scheduler.state_dict(), "rng": states, "stage": p.k + 1, "stage_name": p.stage.name,
                "epoch": epoch, "step_in_epoch": step_in_epoch, "best": best, "history": self.history,
                "params_hash": self.params_hash,
            }
            paths = [checkpoint_path(self.run_dir, p.k + 1, "last")]
            if improved:
                paths.insert(0, checkpoint_path(self.run_dir, p.k + 1, "best"))
            save_checkpoint(payload, paths)
            write_history(self.run_dir, self.history)
        self.ctx.barrier()


class _StageParts:
    """The objects one stage trains with."""

    def __init__(self, k: int, stage: Stage, model: nn.Module, train_model: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LambdaLR, loss_fn: HierarchicalLoss, steps: int) -> None:
        self.k, self.stage, self.model, self.train_model = k, stage, model, train_model
        self.optimizer, self.scheduler, self.loss_fn, self.steps = optimizer, scheduler, loss_fn, steps


#: Augmentation settings that switch every random transform off (``TrainConfig.augment = False``).
_NO_AUGMENT = {"hflip_p": 0.0, "vflip_p": 0.0, "rotate90_p": 0.0, "scale_p": 0.0, "color_jitter_p": 0.0}


def _augment_settings(augment: bool | Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Loader settings of ``TrainConfig.augment``: the defaults (True), none (False) or overrides."""
    if isinstance(augment, bool):
        return None if augment else _NO_AUGMENT
    return augment


# ----------------------------------------------------------------------------------------------- public
def train_run(config: TrainConfig | Mapping[str, Any], *, force: bool = False) -> Path:
    """Train (or resume, or skip) the run described by ``config``.

    Args:
        config: a :class:`TrainConfig` or a mapping of its fields.
        force: retrain a finished run, or overwrite a run dir made with other parameters.

    Returns:
        The run directory.

    Raises:
        RunError: the run dir holds another run (and not ``force``), is in use, or a checkpoint is unreadable.
        PreemptedError: SIGUSR1/SIGTERM arrived; the checkpoint is saved and re-running resumes.
        ConfigError, ManifestError, DataError, ModelError: bad inputs (nothing is written for these when they
            are found before training starts; later failures mark the run ``failed`` in ``run.json``).
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    ctx = init_distributed(cfg.device)
    try:
        return _Trainer(cfg, ctx, force).run()
    finally:
        ctx.close()


def load_trained_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The model of a finished run with the weights of its final stage's best checkpoint, in eval mode.

    The model is in the memory format the run trained and validated in (channels-last unless the run's
    ``channels_last`` was false), so that the final evaluation runs the kernels model selection ran.

    Args:
        run_dir: a run directory written by :func:`train_run`.
        device: where to put the model.

    Returns:
        ``(model, run_info)`` with ``run_info`` the content of ``run.json``.

    Raises:
        RunError: no ``run.json``, a run that is not finished, or a missing or foreign checkpoint.
    """
    info = read_run_info(run_dir)
    if info.get("status") != "finished":
        raise RunError(
            f"run '{run_dir}' has status {info.get('status')!r}; only finished runs can be loaded. Re-run train_run "
            f"on its config to resume it" + (f" (last error: {info['error']})" if info.get("error") else "")
        )
    params = info["params"]
    model = create_model(info["arch"], info["encoder"], decoder_channels=params["decoder_channels"],
                         pretrained=None, img_size=info["img_size"])
    ckpt = load_checkpoint(Path(run_dir) / info["best_checkpoint"], info["params_hash"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise RunError(f"checkpoint '{Path(run_dir) / info['best_checkpoint']}' does not fit the model of run.json "
                       f"({info['arch']}, {info['encoder']}): {exc}") from exc
    model = model.to(device).eval()
    if params.get("channels_last"):  # the memory format validation ran in: the same kernels score the test
        model = model.to(memory_format=torch.channels_last)
    return model, info

