"""Real pixels: leave-one-scan-out damage segmentation on the four real film scans in ``film_damage_real``.

The folder (``../shared/data/film_damage_real``, see its README) holds four 35 mm film scans (about
1100–1400 x 800–1024 px) with approximate binary damage masks (0 clean, 1 damage: dust, dirt, hair,
scratches); damage covers only 0.05–0.23 % of the pixels, often specks of 1–3 px. They are the only real
damage pixels available offline, so they serve as a sanity check of the whole chain on real data, not as
a benchmark.

Protocol of :func:`run_leave_one_scan_out`, for each scan in turn:

1. **Train** a :class:`~heritage_core.models.HierarchicalUPerNet` (random initialisation unless
   ``pretrained`` names a local weights file) on the three other scans at their native resolution, on
   the binary head only (:class:`~heritage_core.train.losses.DiceFocalLoss`): ``epochs`` x ``crops_per_epoch``
   random square crops of ``crop_px``, a share ``damage_crop_fraction`` of them centred on a random damage
   pixel (damage is too rare for uniform crops to show it), random flips and 90° rotations, AdamW with a
   linear warm-up and cosine decay (:func:`heritage_core.train.warmup_cosine`).
2. **Predict** the held-out scan with sliding windows (:func:`heritage_core.models.tiled.predict_logits`,
   tiles of ``tile_px`` with ``overlap``); a pixel is damage where the binary head's argmax is 1.
3. **Score** the damage class: IoU, F1 (= Dice), precision and recall from the summed true positives,
   false positives and false negatives. Pixel accuracy is not reported (damage is ~0.1 % of the pixels).
   The 95 % interval resamples the scan's non-overlapping ``score_tile_px`` tiles with replacement
   (percentile bootstrap, :func:`heritage_core.evaluation.resample.bootstrap_ci`), so it reflects how the errors are
   spread over the scan.

Rows ``mean`` (the unweighted mean of the four scans, with the standard error over scans, ddof=1) and
``pooled`` (the counts of all four scans summed, interval from resampling the tiles of all scans) follow.
Outputs under ``out_dir``: ``film_loso.csv`` (tidy: ``scan, metric, value, ci_low, ci_high, se, n_tiles,
damage_px, pred_px``), ``film_loso.json`` (parameters, timings, provenance) and ``pred_<scan>.png``
(predicted damage, 0/255).
"""
from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from heritage_core.data.loader import normalise_image
from heritage_core.errors import ConfigError, DataError
from heritage_core.models.tiled import predict_logits
from heritage_core.train.losses import DiceFocalLoss
from heritage_core.models import create_model
from heritage_core.runs import atomic_write_bytes, atomic_write_json, atomic_write_text, git_commit, package_versions
from heritage_core.evaluation.resample import bootstrap_ci
from heritage_core.evaluation.stats import mean_se

__all__ = [
    "FILM_METRICS",
    "SMOKE_FIELDS",
    "FilmScan",
    "FilmParams",
    "load_film_scans",
    "sample_crops",
    "train_binary_model",
    "tile_counts",
    "damage_scores",
    "score_scan",
    "run_leave_one_scan_out",
    "make_film_params",
    "film_summary",
]

#: Damage-class scores reported per scan, in order.
FILM_METRICS = ("iou", "f1", "precision", "recall")


#: Sizes a smoke run uses: 64 px crops, one epoch of 8 crops, a 128 px evaluation window, 100 resamples.
SMOKE_FIELDS: dict[str, Any] = dict(crop_px=64, epochs=1, crops_per_epoch=8, batch_size=4, decoder_channels=16,
                                    tile_px=128, score_tile_px=32, eval_crop_px=128, n_resamples=100)


@dataclass
class FilmScan:
    """One scan: its id, (H, W, 3) uint8 RGB image and (H, W) uint8 mask (1 = damage)."""

    id: str
    image: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class FilmParams:
    """Parameters of :func:`run_leave_one_scan_out` (see the module docstring).

    The defaults are the run reported in the README (about 10 CPU-minutes for the four folds on 2 cores):
    ResNet-10t, whose batch-normalised stem learns from random initialisation within that budget, where
    ConvNeXt-Atto (layer norm, 4x4 patchify stem) stayed at the all-clean prior in a pilot of equal size.

    Attributes:
        encoder: encoder name (e.g. ``resnet10t``, ``convnext_atto``).
        pretrained: local encoder weights file, or None for random initialisation.
        crop_px: side of the training crops, px (multiple of 32).
        epochs: training epochs per held-out scan.
        crops_per_epoch: random crops per epoch.
        batch_size: crops per optimiser step.
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_fraction: share of the steps in linear warm-up.
        damage_crop_fraction: share of crops centred on a damage pixel, in [0, 1].
        decoder_channels: UPerNet decoder channels.
        tile_px: sliding-window tile side at prediction, px (multiple of 32).
        overlap: tile overlap fraction in [0, 1).
        score_tile_px: side of the tiles the bootstrap resamples, px.
        eval_crop_px: score only the window of this side holding the most damage; None for the whole scan.
        held_out: ids of the scans to hold out in turn; None for every scan.
        n_resamples: bootstrap resamples.
        seed: seed of crops, initialisation and bootstrap.
        device: torch device.
    """

    encoder: str = "resnet10t"
    pretrained: str | None = None
    crop_px: int = 64
    epochs: int = 10
    crops_per_epoch: int = 160
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    damage_crop_fraction: float = 0.8
    decoder_channels: int = 32
    tile_px: int = 512
    overlap: float = 0.25
    score_tile_px: int = 128
    eval_crop_px: int | None = None
    held_out: tuple[str, ...] | None = None
    n_resamples: int = 10_000
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("crop_px", "tile_px"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 32 or value % 32:
                raise ConfigError(f"film: {name} is {value!r}; give a multiple of 32 px, >= 32")
        for name in ("epochs", "crops_per_epoch", "batch_size", "decoder_channels", "score_tile_px", "n_resamples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"film: {name} is {value!r}; give a positive integer")
        if self.held_out is not None:
            object.__setattr__(self, "held_out", tuple(str(h) for h in self.held_out))
        if self.eval_crop_px is not None and (not isinstance(self.eval_crop_px, int) or self.eval_crop_px < 32):
            raise ConfigError(f"film: eval_crop_px is {self.eval_crop_px!r}; give an integer >= 32 px or None")
        for name, low, high in (("overlap", 0, 1), ("warmup_fraction", 0, 1)):
            if not low <= getattr(self, name) < high:
                raise ConfigError(f"film: {name} is {getattr(self, name)!r}; give a fraction in [{low}, {high})")
        if not 0 <= self.damage_crop_fraction <= 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"film: damage_crop_fraction {self.damage_crop_fraction!r} must be in [0, 1], lr "
                              f"{self.lr!r} > 0 and weight_decay {self.weight_decay!r} >= 0")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"film: seed is {self.seed!r}; give a non-negative integer")

    @classmethod
    def smoke(cls, **overrides: Any) -> FilmParams:
        """Seconds-sized parameters for tests (:data:`SMOKE_FIELDS`), then ``overrides``."""
        return cls(**{**SMOKE_FIELDS, **overrides})


# --------------------------------------------------------------------------- data
def load_film_scans(film_dir: str | Path) -> list[FilmScan]:
    """Read the scans listed in ``film_dir/metadata.csv`` (columns ``id``, ``image``, ``mask``).

    Raises:
        DataError: a missing folder or file, or a mask that is not 0/1 or not the image's size.
    """
    film_dir = Path(film_dir)
    table = film_dir / "metadata.csv"
    if not table.is_file():
        raise DataError(f"'{film_dir}' has no metadata.csv; point film_dir at ../shared/data/film_damage_real")
    scans = []
    for row in pd.read_csv(table).itertuples(index=False):
        image = np.asarray(Image.open(film_dir / row.image).convert("RGB"))
        mask = np.asarray(Image.open(film_dir / row.mask))
        values = set(np.unique(mask).tolist())
        if mask.shape != image.shape[:2] or not values <= {0, 1}:
            raise DataError(f"'{film_dir / row.mask}' (scan '{row.id}'): mask {mask.shape} with values "
                            f"{sorted(values)}; expected {image.shape[:2]} with values 0 (clean) and 1 (damage)")
        scans.append(FilmScan(str(row.id), image, mask.astype(np.uint8)))
    return scans


def sample_crops(scans: list[FilmScan], crop_px: int, n: int, rng: np.random.Generator,
                 damage_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Random square crops with flips and 90° rotations, a share of them centred on damage.

    Args:
        scans: scans to crop from (each at least ``crop_px`` on both sides).
        crop_px: crop side, px.
        n: number of crops.
        rng: random generator.
        damage_fraction: probability that a crop is centred on a random damage pixel of its scan.

    Returns:
        ``(images, masks)``.

    Shapes:
        images: (n, crop_px, crop_px, 3) uint8; masks: (n, crop_px, crop_px) uint8.
    """
    images = np.empty((n, crop_px, crop_px, 3), np.uint8)
    masks = np.empty((n, crop_px, crop_px), np.uint8)
    damage = [np.argwhere(s.mask > 0) for s in scans]
    for k in range(n):
        i = int(rng.integers(len(scans)))
        height, width = scans[i].mask.shape
        if len(damage[i]) and rng.random() < damage_fraction:
            cy, cx = damage[i][rng.integers(len(damage[i]))]
            y = int(np.clip(cy - crop_px // 2 + rng.integers(-crop_px // 4, crop_px // 4 + 1), 0, height - crop_px))
            x = int(np.clip(cx - crop_px // 2 + rng.integers(-crop_px // 4, crop_px // 4 + 1), 0, width - crop_px))
        else:
            y, x = int(rng.integers(height - crop_px + 1)), int(rng.integers(width - crop_px + 1))
        image = scans[i].image[y:y + crop_px, x:x + crop_px]
        mask = scans[i].mask[y:y + crop_px, x:x + crop_px]
        turns = int(rng.integers(4))
        image, mask = np.rot90(image, turns), np.rot90(mask, turns)
        if rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        images[k], masks[k] = image, mask
    return images, masks


# --------------------------------------------------------------------------- training
def train_binary_model(scans: list[FilmScan], params: FilmParams) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """Train a hierarchical model's binary head (with the encoder and decoder) on random crops of ``scans``.

    Returns:
        ``(model in eval mode, history)`` with one ``{"epoch", "loss", "lr", "seconds"}`` per epoch.
    """
    from heritage_core.train import warmup_cosine

    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    device = torch.device(params.device)
    model = create_model("hierarchical", params.encoder, decoder_channels=params.decoder_channels,
                         pretrained=params.pretrained, img_size=params.crop_px).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    steps_per_epoch = math.ceil(params.crops_per_epoch / params.batch_size)
    total = steps_per_epoch * params.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: warmup_cosine(step, total, max(1, round(params.warmup_fraction * total))))
    loss_fn = DiceFocalLoss()
    history = []
    model.train()
    for epoch in range(1, params.epochs + 1):
        start, losses = time.perf_counter(), []
        images, masks = sample_crops(scans, params.crop_px, params.crops_per_epoch, rng, params.damage_crop_fraction)
        for s in range(0, params.crops_per_epoch, params.batch_size):
            x = torch.stack([normalise_image(np.ascontiguousarray(im)) for im in images[s:s + params.batch_size]])
            y = torch.from_numpy(masks[s:s + params.batch_size].astype(np.int64))
            loss = loss_fn(model(x.to(device))["binary"], y.to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "lr": optimiser.param_groups[0]["lr"],
                        "seconds": time.perf_counter() - start})
    return model.eval(), history


# --------------------------------------------------------------------------- scoring
def tile_counts(pred: np.ndarray, mask: np.ndarray, tile_px: int) -> np.ndarray:
    """True positives, false positives and false negatives of the damage class per non-overlapping tile.

    Edge tiles are smaller when the size is not a multiple of ``tile_px``.

    Shapes:
        pred, mask: (H, W) bool or 0/1 -> (T, 3) int64 with T = ceil(H / tile) * ceil(W / tile).
    """
    pred, mask = np.asarray(pred, bool), np.asarray(mask, bool)
    if pred.shape != mask.shape:
        raise DataError(f"tile_counts: prediction {pred.shape} and mask {mask.shape} differ in size")
    height, width = mask.shape
    rows = []
    for y in range(0, height, tile_px):
        for x in range(0, width, tile_px):
            p, m = pred[y:y + tile_px, x:x + tile_px], mask[y:y + tile_px, x:x + tile_px]
            rows.append((int((p & m).sum()), int((p & ~m).sum()), int((~p & m).sum())))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def damage_scores(tp: Any, fp: Any, fn: Any) -> np.ndarray:
    """IoU, F1, precision and recall of the damage class from summed counts; NaN where 0/0.

    Shapes:
        tp, fp, fn: (...) -> (..., 4) in the order of :data:`FILM_METRICS`.
    """
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([tp / (tp + fp + fn), 2 * tp / (2 * tp + fp + fn), tp / (tp + fp), tp / (tp + fn)], axis=-1)


def score_scan(counts: np.ndarray, n_resamples: int, seed: int) -> dict[str, tuple[float, float, float]]:
    """Damage scores of one set of tiles with their tile-bootstrap 95 % intervals.

    Args:
        counts: (T, 3) tp, fp, fn per tile (:func:`tile_counts`).
        n_resamples: bootstrap resamples.
        seed: bootstrap seed.

    Returns:
        metric -> (value, ci_low, ci_high).
    """
    value = damage_scores(*counts.sum(0))
    if len(counts) < 2:
        return {m: (float(value[k]), math.nan, math.nan) for k, m in enumerate(FILM_METRICS)}
    boot = bootstrap_ci([counts[:, 0], counts[:, 1], counts[:, 2]], damage_scores, n_resamples=n_resamples, seed=seed)
    return {m: (float(value[k]), float(boot.low[k]), float(boot.high[k])) for k, m in enumerate(FILM_METRICS)}


def _eval_window(scan: FilmScan, side: int | None) -> FilmScan:
    """The whole scan, or the ``side`` window (origins on a grid of ``side // 4`` px) with the most damage."""
    if side is None:
        return scan
    height, width = scan.mask.shape
    side = min(side, height, width)
    table = np.pad(scan.mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, side // 4)
    best, y, x = -1, 0, 0
    for yy in sorted({*range(0, height - side + 1, step), height - side}):
        for xx in sorted({*range(0, width - side + 1, step), width - side}):
            inside = table[yy + side, xx + side] - table[yy, xx + side] - table[yy + side, xx] + table[yy, xx]
            if inside > best:
                best, y, x = inside, yy, xx
    return FilmScan(scan.id, scan.image[y:y + side, x:x + side], scan.mask[y:y + side, x:x + side])


# --------------------------------------------------------------------------- the protocol
def run_leave_one_scan_out(film_dir: str | Path, out_dir: str | Path, params: FilmParams | None = None,
                           progress: bool = False) -> pd.DataFrame:
    """Leave-one-scan-out training and evaluation on the real film scans (module docstring).

    Args:
        film_dir: the ``film_damage_real`` folder.
        out_dir: folder for ``film_loso.csv``, ``film_loso.json`` and ``pred_<scan>.png``.
        params: the protocol's parameters; None for :class:`FilmParams` defaults.
        progress: print one line per held-out scan.

    Returns:
        The tidy table written to ``film_loso.csv``.

    Raises:
        DataError: unreadable scans (see :func:`load_film_scans`).
        ConfigError: bad parameters.
    """
    params = params or FilmParams()
    out_dir = Path(out_dir)
    scans = load_film_scans(film_dir)
    ids = [s.id for s in scans]
    unknown = sorted(set(params.held_out or ()) - set(ids))
    if unknown:
        raise ConfigError(f"film: held_out names scans {unknown} that are not in '{film_dir}'; allowed are {ids}")
    started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.perf_counter()
    rows: list[dict[str, Any]] = []
    all_counts, folds = [], []
    held_scans = [s for s in scans if params.held_out is None or s.id in params.held_out]
    for k, held in enumerate(held_scans):
        train_start = time.perf_counter()
        model, history = train_binary_model([s for s in scans if s is not held], params)
        train_s = time.perf_counter() - train_start
        window = _eval_window(held, params.eval_crop_px)
        predict_start = time.perf_counter()
        logits = predict_logits(model, np.ascontiguousarray(window.image),
                                tile=min(params.tile_px, _multiple_of_32(max(window.mask.shape))),
                                overlap=params.overlap, device=params.device)
        pred = logits["binary"].argmax(0).numpy().astype(bool)
        predict_s = time.perf_counter() - predict_start
        counts = tile_counts(pred, window.mask, params.score_tile_px)
        all_counts.append(counts)
        for metric, (value, low, high) in score_scan(counts, params.n_resamples, params.seed).items():
            rows.append(dict(scan=held.id, metric=metric, value=value, ci_low=low, ci_high=high, se=math.nan,
                             n_tiles=len(counts), damage_px=int(window.mask.sum()), pred_px=int(pred.sum())))
        buffer = io.BytesIO()
        Image.fromarray(pred.astype(np.uint8) * 255).save(buffer, format="PNG")
        atomic_write_bytes(out_dir / f"pred_{held.id}.png", buffer.getvalue())
        folds.append({"scan": held.id, "train_scans": [s.id for s in scans if s is not held], "train_s": train_s,
                      "predict_s": predict_s, "eval_shape": list(window.mask.shape), "history": history})
        if progress:
            iou = next(r["value"] for r in rows if r["scan"] == held.id and r["metric"] == "iou")
            print(f"[{k + 1}/{len(held_scans)}] {held.id}: damage IoU {iou:.3f}, train {train_s:.0f} s, "
                  f"predict {predict_s:.1f} s", flush=True)
    per_scan = pd.DataFrame(rows)
    pooled_counts = np.concatenate(all_counts)
    totals = dict(n_tiles=len(pooled_counts), damage_px=int(pooled_counts[:, [0, 2]].sum()),
                  pred_px=int(pooled_counts[:, :2].sum()))
    for metric in FILM_METRICS:
        mean, se = mean_se(per_scan.loc[per_scan["metric"] == metric, "value"].to_numpy())
        rows.append(dict(scan="mean", metric=metric, value=mean, ci_low=math.nan, ci_high=math.nan, se=se, **totals))
    for metric, (value, low, high) in score_scan(pooled_counts, params.n_resamples, params.seed).items():
        rows.append(dict(scan="pooled", metric=metric, value=value, ci_low=low, ci_high=high, se=math.nan, **totals))
    table = pd.DataFrame(rows, columns=["scan", "metric", "value", "ci_low", "ci_high", "se", "n_tiles", "damage_px",
                                        "pred_px"])
    atomic_write_text(out_dir / "film_loso.csv", table.to_csv(index=False))
    atomic_write_json(out_dir / "film_loso.json", {
        "params": asdict(params), "film_dir": str(film_dir), "folds": folds, "started": started,
        "duration_s": time.perf_counter() - t0, "git_commit": git_commit(), "package_versions": package_versions(),
        "threads": torch.get_num_threads(),
    })
    return table


def _multiple_of_32(side: int) -> int:
    return max(32, 32 * math.ceil(side / 32))


def make_film_params(*, smoke: bool = False, **fields: Any) -> FilmParams:
    """:class:`FilmParams` from notebook or profile parameters, validated in one call.

    Args:
        smoke: replace the size fields (:data:`SMOKE_FIELDS`) by seconds-sized values, keeping the others
            (encoder, seed, device, learning rate, ...), to check the whole chain quickly.
        **fields: :class:`FilmParams` fields.

    Raises:
        ConfigError: an unknown field (the message lists the allowed ones) or a bad value.
    """
    allowed = list(FilmParams.__dataclass_fields__)
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ConfigError(f"film: unknown parameters {unknown}; allowed are {allowed}")
    return FilmParams(**{**fields, **SMOKE_FIELDS}) if smoke else FilmParams(**fields)


def film_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Wide view of :func:`run_leave_one_scan_out`'s table for display: one row per scan (then ``mean`` and
    ``pooled``), one column per metric with "value [low, high]" in percent (``mean``: "value ± se")."""
    def cell(row: pd.Series) -> str:
        if not np.isfinite(row["value"]):
            return "–"
        if row["scan"] == "mean":
            return f"{100 * row['value']:.1f} ± {100 * row['se']:.1f}"
        return f"{100 * row['value']:.1f} [{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}]"

    wide = table.assign(text=table.apply(cell, axis=1)).pivot(index="scan", columns="metric", values="text")
    order = list(dict.fromkeys(table["scan"]))
    extra = table.drop_duplicates("scan").set_index("scan")[["damage_px", "pred_px", "n_tiles"]]
    return wide.loc[order, list(FILM_METRICS)].join(extra)
