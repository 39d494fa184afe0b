"""Real pixels: leave-one-scan-out damage segmentation on the four real film scans in ``film_damage_real``.

The folder (``../shared/data/film_damage_real``, see its README) holds four 35 mm film scans (about
1100–1400 x 800–1024 px) with approximate binary damage masks (0 clean, 1 damage: dust, dirt, hair,
scratches); damage covers only 0.05–0.23 % of the pixels, often specks of 1–3 px. They are the only real
damage pixels available offline, so they serve as a sanity check of the whole chain on real data, not as
a benchmark.

Protocol of :func:`heritage_core.film.loso.run_leave_one_scan_out`, for each scan in turn:

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

from heritage_core.film.settings import FILM_DIR as FILM_DIR
from heritage_core.film.settings import FILM_METRICS as FILM_METRICS
from heritage_core.film.settings import SMOKE_FIELDS as SMOKE_FIELDS
from heritage_core.film.settings import FilmParams as FilmParams
from heritage_core.film.settings import make_film_params as make_film_params

__all__ = ["FILM_DIR", "FILM_METRICS", "SMOKE_FIELDS", "FilmParams", "make_film_params"]
