"""Evaluation of a finished run: predictions at the training scale, per-image counts, scores with CIs and floors.

:func:`evaluate_run` predicts every image of the chosen partitions exactly as the run's validation did (the
scale rule): sliding windows of the run's ``tile`` and ``overlap`` over the cached image at its own scale, in
the run's precision (:func:`heritage_core.models.tiled.predict_logits`). Scores are computed at the cache's
resolution (``dataset.max_side_px``: ARTeFACT's scans are downsized, so a 3 px line of a 4096 px scan is a
fragment at 1024), or against the masks of a *score cache* of the same source at a larger long side, the
logits resized to them. Each image is scored once per *scored head*:

================== ==================================================================================
scored head        prediction (see :func:`heritage_core.models.predict`)
================== ==================================================================================
binary, coarse     the model's own head when its final stage trained it; else derived from fine
fine               the argmax of the fine head
binary_from_fine   derived from the fine argmax through the taxonomy (every model)
coarse_from_fine   derived from the fine argmax (every model)
\\*_consistent      best root-to-leaf path of the three heads (``consistent=True``, all heads live)
================== ==================================================================================

A head is *live* when the run's final stage has its loss (:func:`live_heads`): a flat model has only fine, and
``curriculum_only`` leaves its binary and coarse heads stale after stage 2, so both score those levels from the
fine head (and get no violation rate). Each scored head is compared with the label of its level
(:data:`BASE_HEAD`): fine-level items are scored on every head (their mask mapped to coarse and binary with the
taxonomy), binary-level items on the binary level only. Pixels labelled 255 are never scored. Every score is
stored with its floor: the all-Clean predictor on the same labels (:func:`heritage_core.evaluation.metrics.all_clean_counts`).

Written under ``<run_dir>/eval/`` (the folder is rebuilt and swapped in atomically, so a re-evaluation
replaces it whole):

* ``<partition>.npz``: per-image counts of every scored head with its own image ids and their source groups
  (:func:`heritage_core.evaluation.store.save_counts`), plus the summed confusion per head.
* ``<partition>_pred.npz``: the predicted masks of ``binary``, ``coarse``, ``fine`` (and
  ``fine_consistent`` with ``consistent=True``) downsampled (nearest) so the long side is at most
  ``pred_max_side_px``, uint8, padded with 255 to a common square; keys ``format``, ``ids``, ``shape``
  (N, 2: scored H, W), ``size`` (N, 2: stored h, w) and one (N, S, S) array per head. Every other scored
  head is a taxonomy mapping of one of them (``*_from_fine`` of ``fine``, ``*_consistent`` of
  ``fine_consistent``), see :func:`stored_prediction`. The inspector (:mod:`heritage_core.report.widgets`) reads
  them with the image and mask from the cache, so it never re-runs the model.
* ``metrics.json``: per partition and scored head: mIoU with its image-level bootstrap CI, mAcc, mDice,
  aAcc, per-class IoU (with CI), Acc, Dice, support, the confusion matrix and the ``floor`` (all-Clean mIoU
  with CI, per-class IoU, and whether the model's interval clears it); the hierarchy violation rate of the
  live heads (violating / valid pixels summed over the partition); and per-domain (``material``,
  ``content``) scores. Undefined values (NaN) are written as ``null``.
* ``eval.json``: how the evaluation was made: tile, overlap, precision, input and scored resolution, live and
  derived heads, consistent, checkpoint, partitions evaluated or skipped (with the reason), image counts,
  timings, provenance.

``ood_test`` is empty in ``random`` manifests: it is skipped and recorded as skipped in both files.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from heritage_core.data.cache import Cache, open_cache
from heritage_core.errors import ConfigError, DataError, RunError
from heritage_core.evaluation import N_RESAMPLES
from heritage_core.evaluation.metrics import ABSENT_CLASS_RULE, SegCounts
from heritage_core.evaluation.scores import partition_metrics
from heritage_core.evaluation.store import (
    _CONSISTENT_PRED,
    _PRED_HEADS,
    BASE_HEAD,
    EVAL_FORMAT,
    resolve_run_path,
    save_counts,
    save_predictions,
)
from heritage_core.models import predict, violation_counts
from heritage_core.models.tiled import precision_name, predict_logits
from heritage_core.runs import atomic_dir, atomic_write_json, git_commit, package_versions, read_json, utc_timestamp
from heritage_core.splits.protocols import EVAL_PARTITIONS, PARTITIONS, Manifest, load_manifest
from heritage_core.taxonomy import HEADS, IGNORE_INDEX, Taxonomy, default_taxonomy

__all__ = [
    "EVAL_PARTITIONS",
    "DOMAIN_COLUMNS",
    "SMOKE_MAX_IMAGES",
    "scored_heads",
    "label_targets",
    "image_predictions",
    "downsample_labels",
    "PartitionResult",
    "evaluate_partition",
    "evaluate_run",
    "live_heads",
    "EvaluateParams",
    "check_evaluate_params",
]

#: Cache index columns that the per-domain breakdown groups by.
DOMAIN_COLUMNS = ("material", "content")
#: Images per partition in a smoke evaluation.
SMOKE_MAX_IMAGES = 4
#: Bootstrap resamples in a smoke evaluation.
SMOKE_RESAMPLES = 100


# --------------------------------------------------------------------------- per image
def scored_heads(consistent: bool = False, hierarchical: bool = True) -> tuple[str, ...]:
    """Names of the scored heads, in the order they are stored.

    Args:
        consistent: add the ``*_consistent`` heads (hierarchical models only).
        hierarchical: whether the model has all three heads.

    Returns:
        ``binary, coarse, fine, binary_from_fine, coarse_from_fine`` (+ the three consistent ones).
    """
    names = ("binary", "coarse", "fine", "binary_from_fine", "coarse_from_fine")
    if consistent and hierarchical:
        names += ("binary_consistent", "coarse_consistent", "fine_consistent")
    return names


def label_targets(mask: np.ndarray, label_level: str, taxonomy: Taxonomy | None = None, *,
                  item: str | None = None) -> dict[str, np.ndarray]:
    """The labels of an item at every level it can be scored on.

    Args:
        mask: the cached mask at the item's own level (255 = ignore).
        label_level: ``fine`` or ``binary``.
        taxonomy: the label hierarchy; None for the ARTeFACT default.
        item: the item's id, named in errors.

    Returns:
        ``{"binary", "coarse", "fine"}`` for a fine-level item (coarse and binary mapped from fine, 255
        kept), ``{"binary"}`` for a binary-level item.

    Shapes:
        mask: (H, W) uint8; every output (H, W) uint8.

    Raises:
        DataError: an unknown ``label_level``, or a mask value that is neither a class of its level nor 255.
    """
    taxonomy = taxonomy or default_taxonomy()
    if label_level == "fine":
        return {h: taxonomy.map_labels(mask, "fine", h, item=item) for h in HEADS}
    if label_level == "binary":
        return {"binary": taxonomy.map_labels(mask, "binary", "binary", item=item)}
    raise DataError(f"label level '{label_level}' is not scorable; allowed are 'fine' and 'binary'")


def image_predictions(
    logits: Mapping[str, torch.Tensor], consistent: bool = False, taxonomy: Taxonomy | None = None
) -> dict[str, torch.Tensor]:
    """Predicted labels of one image for every scored head (see the module docstring).

    Args:
        logits: head -> logits of one image, as returned by :func:`~heritage_core.models.tiled.predict_logits`.
        consistent: also return the ``*_consistent`` predictions (hierarchical models only).
        taxonomy: the label hierarchy; None for the ARTeFACT default.

    Returns:
        scored head -> int64 labels.

    Shapes:
        logits[head]: (C_head, H, W); output[key]: (H, W).
    """
    batch = {h: v[None] for h, v in logits.items()}
    out = {k: v[0] for k, v in predict(batch, consistent=False, taxonomy=taxonomy).items()}
    if consistent and set(logits) == set(HEADS):
        path = predict(batch, consistent=True, taxonomy=taxonomy)
        out.update({f"{h}_consistent": path[h][0] for h in HEADS})
    return out


def downsample_labels(labels: np.ndarray, max_side_px: int) -> np.ndarray:
    """Nearest (pixel-centre) downsampling of a label map so its long side is at most ``max_side_px``.

    Shapes:
        labels: (H, W) -> (h, w) with ``max(h, w) = min(max(H, W), max_side_px)``, dtype kept.
    """
    height, width = labels.shape
    scale = min(1.0, max_side_px / max(height, width))
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    rows = np.minimum(((np.arange(h) + 0.5) * height / h).astype(np.intp), height - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * width / w).astype(np.intp), width - 1)
    return labels[np.ix_(rows, cols)]


# --------------------------------------------------------------------------- per partition
@dataclass
class PartitionResult:
    """Everything measured on one partition, before it is written.

    Attributes:
        counts: scored head -> per-image counts (binary-level items only in the binary-level heads).
        violating_px: per-image pixels where the independent heads disagree with the tree (hierarchical).
        valid_px: per-image scored pixels the violation rate is taken over.
        preds: head -> downsampled predicted masks, one (h, w) uint8 per image, ``ids`` order.
        ids: the image ids, in order.
        shapes: cached (H, W) of each image.
        seconds: wall time of the partition, s.
    """

    counts: dict[str, SegCounts]
    violating_px: list[int] = field(default_factory=list)
    valid_px: list[int] = field(default_factory=list)
    preds: dict[str, list[np.ndarray]] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    shapes: list[tuple[int, int]] = field(default_factory=list)
    seconds: float = 0.0


def evaluate_partition(
    model: torch.nn.Module,
    cache: Cache,
    ids: Sequence[str],
    *,
    tile: int,
    overlap: float = 0.25,
    amp: bool = False,
    live_heads: Sequence[str] = HEADS,
    consistent: bool = False,
    device: str = "cpu",
    pred_max_side_px: int = 256,
    score_cache: Cache | None = None,
    taxonomy: Taxonomy | None = None,
) -> PartitionResult:
    """Predict and score the images ``ids`` of a cache with a model (no files written).

    The model sees each image at the cache's scale (the training scale) through sliding windows. With
    ``score_cache`` the logits are resized bilinearly to that cache's mask, which holds the same images at a
    larger long side, and scored there (thin damage keeps more of its shape at a higher resolution); the
    model's input is unchanged.

    Args:
        model: a model of :func:`heritage_core.models.create_model`, on ``device``.
        cache: the ingest cache the model was trained on.
        ids: image ids to score.
        tile: sliding-window tile side, px (the run's validation tile).
        overlap: tile overlap fraction in [0, 1).
        amp: bf16 autocast on CUDA (the run's precision).
        live_heads: heads trained in the run's final stage; the model's other heads are stale and ignored, so
            their levels are derived from the fine prediction (as for a flat model).
        consistent: also score the consistent predictions (needs all three heads live).
        device: device the model runs on.
        pred_max_side_px: long side of the stored prediction masks, px.
        score_cache: cache whose masks are scored; None scores the masks of ``cache``.
        taxonomy: the label hierarchy; None for the ARTeFACT default.

    Returns:
        The :class:`PartitionResult`.

    Raises:
        DataError: an image and its mask differ in size, or the score cache's mask has another aspect ratio.
    """
    taxonomy = taxonomy or default_taxonomy()
    live = tuple(h for h in HEADS if h in live_heads and h in getattr(model, "heads", HEADS))
    hierarchical = live == HEADS
    heads = scored_heads(consistent, hierarchical)
    counts = {h: SegCounts(h, taxonomy.names(BASE_HEAD[h])) for h in heads}
    stored = _PRED_HEADS + ((_CONSISTENT_PRED,) if "fine_consistent" in heads else ())
    result = PartitionResult(counts=counts, preds={h: [] for h in stored})
    labels_from = score_cache or cache
    start = time.perf_counter()
    for item_id in ids:
        image, mask = cache.load_image(item_id), labels_from.load_mask(item_id)
        logits = predict_logits(model, image, tile=tile, overlap=overlap, device=device, amp=amp)
        logits = {h: v for h, v in logits.items() if h in live}
        if mask.shape != image.shape[:2]:
            logits = _to_label_size(logits, mask.shape, image.shape[:2], labels_from, item_id)
        preds = image_predictions(logits, consistent=consistent, taxonomy=taxonomy)
        targets = label_targets(mask, labels_from.label_level(item_id), taxonomy, item=item_id)
        for head in heads:
            if BASE_HEAD[head] in targets:
                counts[head].update([item_id], preds[head], torch.from_numpy(targets[BASE_HEAD[head]]))
        if hierarchical:
            valid = torch.from_numpy(mask != IGNORE_INDEX)[None]
            bad, valid_n = violation_counts({h: preds[h][None] for h in HEADS}, valid, taxonomy)
        else:
            bad, valid_n = 0, int((mask != IGNORE_INDEX).sum())
        result.violating_px.append(bad)
        result.valid_px.append(valid_n)
        for head in stored:
            result.preds[head].append(downsample_labels(preds[head].numpy().astype(np.uint8), pred_max_side_px))
        result.ids.append(item_id)
        result.shapes.append(mask.shape)
    result.seconds = time.perf_counter() - start
    return result


def _to_label_size(logits: dict[str, torch.Tensor], size: tuple[int, int], seen: tuple[int, int], labels: Cache,
                   item_id: str) -> dict[str, torch.Tensor]:
    """Logits predicted at the training scale, resized bilinearly to the scored mask of another cache."""
    if abs(size[0] / size[1] - seen[0] / seen[1]) > 2.0 / min(seen):
        raise DataError(f"cache '{labels.root}' item '{item_id}': its mask {size} is not the image {seen} at "
                        f"another size; score with a cache ingested from the same source")
    return {h: F.interpolate(v[None], size=size, mode="bilinear", align_corners=False)[0] for h, v in logits.items()}


# --------------------------------------------------------------------------- a run
def _check_eval_params(partitions: Sequence[str], n_resamples: int, pred_max_side_px: int) -> tuple[str, ...]:
    parts = tuple(partitions)
    unknown = [p for p in parts if p not in PARTITIONS]
    if not parts or unknown or len(set(parts)) != len(parts):
        raise ConfigError(f"evaluate_run: partitions {list(parts)} must be distinct names from {list(PARTITIONS)} "
                          f"(e.g. {list(EVAL_PARTITIONS)})")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ConfigError(f"evaluate_run: n_resamples is {n_resamples!r}; give a positive integer, e.g. 10000")
    if isinstance(pred_max_side_px, bool) or not isinstance(pred_max_side_px, int) or pred_max_side_px < 8:
        raise ConfigError(f"evaluate_run: pred_max_side_px is {pred_max_side_px!r}; give an integer >= 8")
    return parts


def _finished_run_info(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.json"
    if not path.is_file():
        raise RunError(f"'{run_dir}' is not a run directory (no run.json); train it first (02_train_curriculum)")
    info = read_json(path)
    if info.get("status") != "finished":
        raise RunError(f"run '{run_dir}' has status {info.get('status')!r}; only a finished run is evaluated. "
                       f"Finish (or resume) its training first")
    return info


def live_heads(run_info: Mapping[str, Any]) -> tuple[str, ...]:
    """The heads of a run that its final stage trained: scored as they are; the others are derived from fine.

    A flat model has the fine head only. ``curriculum_only`` trains the binary and coarse heads in its first
    stages and then leaves them without a loss while the encoder keeps changing, so after training they are
    stale (bit-identical to an earlier stage's best): its binary and coarse levels are scored from the fine
    head, like a flat model's, and it gets no violation rate or consistent decoding.
    """
    if run_info.get("arch") == "flat":
        return ("fine",)
    stages = run_info.get("stages") or []
    return tuple(h for h in HEADS if h in stages[-1]["loss_heads"]) if stages else HEADS


def _score_cache(score_cache: str | Path | None, cache: Cache) -> Cache | None:
    """The cache whose masks are scored, checked to hold the same items of the same source as ``cache``."""
    if score_cache is None or str(score_cache) == "":
        return None
    other = open_cache(score_cache)
    if other.fingerprint == cache.fingerprint:
        return None
    mine, theirs = cache.index, other.index
    missing = sorted(set(mine.index) - set(theirs.index))
    differ = [i for i in mine.index if i in theirs.index and mine.at[i, "sha256"] != theirs.at[i, "sha256"]]
    if missing or differ:
        raise DataError(f"score cache '{other.root}' does not hold the run's images: {len(missing)} id(s) missing "
                        f"({missing[:3]}), {len(differ)} from another source ({differ[:3]}); ingest the same "
                        f"source with a larger --max-side")
    small = [i for i in mine.index if int(theirs.at[i, "height"]) < int(mine.at[i, "height"])]
    if small:
        raise DataError(f"score cache '{other.root}' holds smaller images than the run's cache (e.g. '{small[0]}'); "
                        f"scores are computed at the run's resolution or above, never below")
    return other


def evaluate_run(
    run_dir: str | Path,
    partitions: Sequence[str] = EVAL_PARTITIONS,
    consistent: bool = False,
    device: str = "cpu",
    smoke: bool = False,
    *,
    score_cache: str | Path | None = None,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    pred_max_side_px: int = 256,
) -> dict[str, Any]:
    """Evaluate a finished run on its manifest's partitions and write ``<run_dir>/eval/`` (module docstring).

    The prediction is the one the run selected its checkpoint with (the scale rule): sliding windows of the
    run's ``tile`` and ``overlap`` over each cached image at the training scale, in the run's precision (bf16
    on CUDA with ``amp``, float32 otherwise). Nothing here can change the scale.

    Args:
        run_dir: the run directory (``run.json`` with status ``finished``).
        partitions: partitions to evaluate; an empty one (``ood_test`` of a ``random`` manifest) is skipped and
            recorded.
        consistent: also score the consistent (best-path) predictions of hierarchical models.
        device: torch device, e.g. ``cpu`` or ``cuda``.
        smoke: score only the first :data:`SMOKE_MAX_IMAGES` images of each partition with
            :data:`SMOKE_RESAMPLES` bootstrap resamples (for tests and first runs).
        score_cache: an ingest cache of the same source at a larger long side whose masks are scored (the
            model still sees the run's cache); None scores at the run's cache resolution.
        n_resamples: bootstrap resamples of each interval.
        seed: bootstrap seed.
        pred_max_side_px: long side of the stored prediction masks, px.

    Returns:
        ``{"eval_dir": str, "eval": <eval.json>, "metrics": <metrics.json>}``.

    Raises:
        RunError: no run.json, the run is not finished, or it predates the scale rule (no ``inference``).
        ConfigError: a bad parameter.
        ManifestError, DataError: the run's manifest or cache is missing or does not match.
    """
    from heritage_core.train import load_trained_model

    run_dir = Path(run_dir)
    parts = _check_eval_params(partitions, n_resamples, pred_max_side_px)
    info = _finished_run_info(run_dir)
    inference = info.get("inference")
    if not inference:
        raise RunError(f"run '{run_dir}' records no inference settings (trained before validation and test shared "
                       f"one scale); retrain it with this version")
    started, t0 = utc_timestamp(), time.perf_counter()
    cache = open_cache(resolve_run_path(run_dir, info["cache"]))
    scored = _score_cache(score_cache, cache)
    manifest = load_manifest(resolve_run_path(run_dir, info["manifest"]), cache)
    model, run_info = load_trained_model(run_dir, device=device)
    amp = bool(info["params"].get("amp")) and torch.device(device).type == "cuda"
    taxonomy = default_taxonomy()
    live = live_heads(info)
    hierarchical = live == HEADS
    if smoke:
        n_resamples = min(n_resamples, SMOKE_RESAMPLES)
    domains = {col: cache.index[col].astype(str).to_dict() for col in DOMAIN_COLUMNS}

    metrics: dict[str, Any] = {"format": EVAL_FORMAT, "absent_class_rule": ABSENT_CLASS_RULE,
                               "ci": {"level": 0.95, "method": "percentile", "unit": "image",
                                      "n_resamples": n_resamples, "seed": seed},
                               "partitions": {}}
    part_info: dict[str, Any] = {}
    with atomic_dir(run_dir / "eval") as tmp:
        for part in parts:
            ids = list(manifest.partitions.get(part, []))
            if not ids:
                reason = (f"partition '{part}' is empty in manifest {manifest.protocol}/{manifest.fold}"
                          + (" (the random protocol has no held-out domain)" if manifest.protocol == "random" else ""))
                part_info[part] = {"status": "skipped", "reason": reason, "n_images": 0}
                metrics["partitions"][part] = {"skipped": reason}
                continue
            if smoke:
                ids = ids[:SMOKE_MAX_IMAGES]
            result = evaluate_partition(model, cache, ids, tile=int(inference["tile"]),
                                        overlap=float(inference["overlap"]), amp=amp, live_heads=live,
                                        consistent=consistent, device=device, pred_max_side_px=pred_max_side_px,
                                        score_cache=scored, taxonomy=taxonomy)
            save_counts(tmp / f"{part}.npz", result.counts, groups=cache.index["group"].astype(str).to_dict())
            save_predictions(tmp / f"{part}_pred.npz", result.ids, result.shapes, result.preds, pred_max_side_px)
            violation = (sum(result.violating_px), sum(result.valid_px)) if hierarchical else None
            metrics["partitions"][part] = partition_metrics(result.counts, domains, violation,
                                                            n_resamples=n_resamples, seed=seed)
            part_info[part] = {"status": "evaluated", "n_images": len(ids),
                               "n_images_by_level": _levels(cache, ids), "seconds": round(result.seconds, 3)}
        eval_info = _eval_record(run_dir, info, manifest, cache, scored,
                                 run_info.get("best_checkpoint", info.get("best_checkpoint")), device=device, amp=amp,
                                 consistent=consistent, live=live, part_info=part_info, started=started, t0=t0,
                                 smoke=smoke, n_resamples=n_resamples, seed=seed, pred_max_side_px=pred_max_side_px)
        atomic_write_json(tmp / "metrics.json", metrics)
        atomic_write_json(tmp / "eval.json", eval_info)
    return {"eval_dir": str(run_dir / "eval"), "eval": eval_info, "metrics": metrics}


def _eval_record(run_dir: Path, info: dict[str, Any], manifest: Manifest, cache: Cache, scored: Cache | None,
                 checkpoint: str | None, *, device: str, amp: bool, consistent: bool, live: tuple[str, ...],
                 part_info: dict[str, Any], started: str, t0: float, smoke: bool, n_resamples: int, seed: int,
                 pred_max_side_px: int) -> dict[str, Any]:
    """The ``eval.json`` record: what was scored, how (scale, precision, heads), and its provenance."""
    inference = info["inference"]
    hierarchical = live == HEADS
    derived = [h for h in ("binary", "coarse") if h not in live]
    labels_cache = scored or cache
    return {
        "format": EVAL_FORMAT,
        "run_dir": str(run_dir),
        "variant": info.get("variant"), "arch": info.get("arch"), "encoder": info.get("encoder"),
        "fold": info.get("fold", manifest.fold), "seed": info.get("seed"), "params_hash": info.get("params_hash"),
        "protocol": manifest.protocol, "held_out": manifest.held_out, "split_seed": manifest.seed,
        "manifest": str(info["manifest"]), "cache": str(info["cache"]),
        "dataset_fingerprint": cache.fingerprint,
        "checkpoint": checkpoint,
        "img_size": int(info["img_size"]), "tile": int(inference["tile"]), "overlap": float(inference["overlap"]),
        "precision": precision_name(device, amp),
        "input_max_side_px": int(cache.meta.get("max_side_px", 0)),
        "score_cache": str(labels_cache.root) if scored is not None else None,
        "score_max_side_px": int(labels_cache.meta.get("max_side_px", 0)),
        "consistent": consistent and hierarchical,
        "hierarchical": hierarchical, "live_heads": list(live), "derived_from_fine": derived,
        "derived_reason": (None if not derived else "flat model" if info.get("arch") == "flat" else
                           "no loss in the final stage (stale heads)"),
        "scored_heads": list(scored_heads(consistent, hierarchical)),
        "device": str(device), "smoke": smoke, "smoke_max_images": SMOKE_MAX_IMAGES if smoke else None,
        "n_resamples": n_resamples, "bootstrap_seed": seed, "pred_max_side_px": pred_max_side_px,
        "partitions": part_info,
        "started": started, "finished": utc_timestamp(), "duration_s": round(time.perf_counter() - t0, 3),
        "git_commit": git_commit(), "package_versions": package_versions(),
    }


def _levels(cache: Cache, ids: Sequence[str]) -> dict[str, int]:
    levels = cache.index.loc[list(ids), "label_level"].value_counts()
    return {str(k): int(v) for k, v in levels.items()}


# --------------------------------------------------------------------------- notebook 03
@dataclass(frozen=True)
class EvaluateParams:
    """Validated parameters of notebook 03 (see :func:`check_evaluate_params`)."""

    run_dir: Path
    partitions: tuple[str, ...]
    score_cache: Path | None
    consistent: bool
    device: str
    n_resamples: int
    seed: int
    smoke: bool
    show_heads: tuple[str, ...]
    figures_dir: Path

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`evaluate_run`."""
        return dict(run_dir=self.run_dir, partitions=self.partitions, score_cache=self.score_cache,
                    consistent=self.consistent, device=self.device, smoke=self.smoke,
                    n_resamples=self.n_resamples, seed=self.seed)


def check_evaluate_params(
    *,
    run_dir: str | Path,
    partitions: Sequence[str] = EVAL_PARTITIONS,
    score_cache: str | Path | None = "",
    consistent: bool = False,
    device: str = "cpu",
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    smoke: bool = False,
    show_heads: Sequence[str] = HEADS,
    figures_dir: str | Path = "",
) -> EvaluateParams:
    """Validate every parameter of notebook 03 in one call, before anything runs.

    Args:
        run_dir: run directory to evaluate (finished).
        partitions: partitions to evaluate.
        score_cache: cache of the same source at a larger long side whose masks are scored; "" or None for the
            run's cache.
        consistent: also score the consistent predictions.
        device: torch device.
        n_resamples: bootstrap resamples.
        seed: bootstrap seed.
        smoke: quick evaluation (see :func:`evaluate_run`).
        show_heads: scored heads whose tables and confusion matrices the notebook shows.
        figures_dir: folder for the notebook's figures; "" for ``<run_dir>/eval/figures``.

    Returns:
        The :class:`EvaluateParams`.

    Raises:
        RunError: the run directory is missing or its run is not finished.
        ConfigError: any other bad value (the message names the parameter).
    """
    run_dir = Path(run_dir)
    parts = _check_eval_params(partitions, n_resamples, 8)
    _finished_run_info(run_dir)
    for name, value in (("consistent", consistent), ("smoke", smoke)):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} is {value!r}; give True or False")
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise ConfigError(f"device is {device!r}; give 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed is {seed!r}; give a non-negative integer")
    score = Path(score_cache) if score_cache not in (None, "") else None
    if score is not None and not (score / "dataset.json").is_file():
        raise ConfigError(f"score_cache '{score}' is not an ingest cache; build it with 01_splits "
                          f"(score_cache_dir, score_max_side_px) or give \"\"")
    allowed = scored_heads(True)
    heads = tuple(show_heads)
    if not heads or any(h not in allowed for h in heads):
        raise ConfigError(f"show_heads is {list(heads)}; choose from {list(allowed)}")
    if any(h.endswith("_consistent") for h in heads) and not consistent:
        raise ConfigError(f"show_heads {list(heads)} names consistent heads but consistent is False; set "
                          f"consistent = True or drop them")
    figures = Path(figures_dir) if str(figures_dir) else run_dir / "eval" / "figures"
    return EvaluateParams(run_dir, parts, score, consistent, device, n_resamples, seed, smoke, heads, figures)


# --------------------------------------------------------------------------- reading back


