"""Executes notebooks/06_film_real.ipynb with papermill in smoke size on the real film scans (skips without them)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import papermill
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06_film_real.ipynb"


@pytest.mark.slow
def test_06_film_real_smoke(film_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "film"
    papermill.execute_notebook(
        str(NOTEBOOK), str(tmp_path / "06_film_real.ipynb"), kernel_name="python3", progress_bar=False,
        parameters={"film_dir": str(film_dir), "output_dir": str(out), "smoke": True, "seed": 0},
    )
    table = pd.read_csv(out / "film_loso.csv")
    assert table["scan"].nunique() == 6  # four scans, mean, pooled
    assert len(list(out.glob("pred_*.png"))) == 4
