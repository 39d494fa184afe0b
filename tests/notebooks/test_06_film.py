"""Executes notebooks/06_film_real.ipynb with papermill in smoke size on the real film scans (skips without them)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import papermill
import pytest

from heritage_core.film import FILM_METRICS

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06_film_real.ipynb"


@pytest.mark.slow
def test_06_film_real_smoke_leave_one_scan_out(film_dir: Path, tmp_path: Path) -> None:
    held = "cinestill50d_half_1"
    papermill.execute_notebook(
        str(NOTEBOOK), str(tmp_path / "06_film_real.ipynb"), kernel_name="python3", progress_bar=False,
        parameters={"film_dir": str(film_dir), "output_dir": str(tmp_path), "held_out": [held], "smoke": True},
    )
    table = pd.read_csv(tmp_path / "film_loso.csv")
    assert table["scan"].tolist() == [held] * 4 + ["mean"] * 4 + ["pooled"] * 4
    assert table["metric"].tolist() == list(FILM_METRICS) * 3
    one = table[table["scan"] == held].set_index("metric")
    assert (one["n_tiles"] == 16).all() and (one["damage_px"] > 0).all()  # 128 px window, 32 px tiles
    for name in ("mean", "pooled"):  # a single held-out scan: its mean and pooled scores are its own
        np.testing.assert_allclose(table[table["scan"] == name].set_index("metric")["value"], one["value"])
    info = json.loads((tmp_path / "film_loso.json").read_text())
    assert info["params"]["crop_px"] == 64 and info["params"]["held_out"] == [held]
    assert info["folds"][0]["train_scans"] == ["velvia50_0", "cinestill800t_half_5", "cinestill800t_half_1"]
    assert (tmp_path / f"pred_{held}.png").is_file()
