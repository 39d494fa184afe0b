"""Leave-one-scan-out on the real film scans: the protocol of :mod:`heritage_core.film` (training, prediction,
scoring, outputs); its parameters are :class:`heritage_core.film.settings.FilmParams`."""
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
from heritage_core.evaluation.resample import bootstrap_ci
from heritage_core.evaluation.stats import mean_se
from heritage_core.film.settings import FILM_METRICS, FilmParams
from heritage_core.models import create_model
from heritage_core.models.tiled import predict_logits
from heritage_core.runs import atomic_write_bytes, atomic_write_json, atomic_write_text, git_commit, package_versions
from heritage_core.train.losses import DiceFocalLoss

__all__ = [
    "FilmScan",
    "load_film_scans",
    "sample_crops",
    "train_binary_model",
    "tile_counts",
    "damage_scores",
    "score_scan",
    "run_leave_one_scan_out",
    "film_summary",
]


@dataclass
class FilmScan:
    """One scan: its id, (H, W, 3) uint8 RGB image and (H, W) uint8 mask (1 = damage)."""

    id: str
    image: np.ndarray
    mask: np.ndarray


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
