"""Tests of heritage_core.film: damage scores by hand, crops, the evaluation window, a smoke leave-one-scan-out run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heritage_core import film
from heritage_core.film import loso
from heritage_core.errors import ConfigError


def test_tile_counts_and_damage_scores_by_hand() -> None:
    mask = np.zeros((4, 4), bool)
    pred = np.zeros((4, 4), bool)
    mask[0, 0] = mask[0, 1] = mask[3, 3] = True  # tile (0,0): 2 damage px, tile (1,1): 1
    pred[0, 0] = pred[2, 0] = pred[3, 3] = True  # tile (0,0): TP; tile (1,0): FP; tile (1,1): TP
    counts = loso.tile_counts(pred, mask, 2)
    assert counts.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 0, 0]]
    iou, f1, precision, recall = loso.damage_scores(*counts.sum(0))  # tp 2, fp 1, fn 1
    assert (iou, f1, precision, recall) == (0.5, pytest.approx(2 / 3), pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert np.isnan(loso.damage_scores(0, 0, 0)).all()
    assert loso.tile_counts(pred, mask, 3).shape == (4, 3)  # edge tiles of 1 px


def test_score_scan_interval_brackets_the_value() -> None:
    rng = np.random.default_rng(0)
    counts = np.stack([rng.integers(0, 20, 40), rng.integers(0, 10, 40), rng.integers(0, 10, 40)], axis=1)
    scores = loso.score_scan(counts, n_resamples=500, seed=0)
    assert list(scores) == list(film.FILM_METRICS)
    for value, low, high in scores.values():
        assert low <= value <= high


def _scan() -> loso.FilmScan:
    image = np.zeros((200, 300, 3), np.uint8)
    mask = np.zeros((200, 300), np.uint8)
    mask[150:152, 250:253] = 1
    mask[5, 5] = 1
    return loso.FilmScan("toy", image, mask)


def test_damage_centred_crops_contain_damage() -> None:
    images, masks = loso.sample_crops([_scan()], 64, 20, np.random.default_rng(0), damage_fraction=1.0)
    assert images.shape == (20, 64, 64, 3) and masks.shape == (20, 64, 64)
    assert (masks.reshape(20, -1).sum(1) > 0).all()


def test_eval_window_holds_the_most_damage() -> None:
    window = loso._eval_window(_scan(), 64)
    assert window.mask.shape == (64, 64) and window.mask.sum() == 6
    assert loso._eval_window(_scan(), None).mask.shape == (200, 300)


def test_params_are_validated() -> None:
    with pytest.raises(ConfigError, match="crop_px"):
        film.FilmParams(crop_px=100)
    with pytest.raises(ConfigError, match="overlap"):
        film.FilmParams(overlap=1.0)
    assert film.FilmParams.smoke(held_out=["a"]).held_out == ("a",)
    with pytest.raises(ConfigError, match="unknown parameters"):
        film.make_film_params(crop=64)
    smoke = film.make_film_params(smoke=True, crop_px=256, lr=0.01)
    assert (smoke.crop_px, smoke.lr) == (film.SMOKE_FIELDS["crop_px"], 0.01)  # sizes shrink, the rest is kept


def test_unknown_held_out_scan_is_refused(film_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not in"):
        loso.run_leave_one_scan_out(film_dir, tmp_path, film.FilmParams.smoke(held_out=("nope",)))
    assert [s.id for s in loso.load_film_scans(film_dir)] == [
        "velvia50_0", "cinestill800t_half_5", "cinestill800t_half_1", "cinestill50d_half_1"]
