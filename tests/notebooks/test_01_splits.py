"""Executes notebooks/01_splits.ipynb with papermill on the session's synthetic cache and checks its artefacts."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import papermill
import pytest

from heritage_core.data.cache import open_cache
from heritage_core.splits.protocols import PARTITIONS, load_manifest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01_splits.ipynb"


@pytest.mark.slow
def test_01_splits_writes_valid_manifests_and_report(synthetic_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "splits"
    papermill.execute_notebook(
        str(NOTEBOOK), str(tmp_path / "01_splits.ipynb"), kernel_name="python3", progress_bar=False,
        parameters={"cache_dir": str(synthetic_cache), "source_dir": "", "synthetic_n": 0, "protocol": "locontent",
                    "seeds": [0, 1], "min_items": 5, "output_dir": str(out), "smoke": False},
    )
    cache = open_cache(synthetic_cache)
    folds = ["artistic_depiction", "photographic_depiction", "line_art", "geometric_patterns"]
    expected = sorted(f"locontent_seed{s}_{f}.json" for s in (0, 1) for f in folds)
    assert sorted(p.name for p in out.glob("*.json")) == expected
    for name in expected:
        manifest = load_manifest(out / name, cache)
        assert sum(len(manifest.partitions[p]) for p in PARTITIONS) + len(manifest.excluded) == len(cache)
        assert manifest.partitions["ood_test"] == sorted(cache.index.index[cache.index["content"] == manifest.held_out])

    report = out / "report"
    summary = pd.read_csv(report / "locontent_summary.csv")
    assert summary["fold"].tolist() == folds
    composition = pd.read_csv(report / "locontent_composition.csv")
    assert sorted(composition["seed"].unique()) == [0, 1]
    totals = composition[composition["by"] == "all"].groupby(["seed", "fold"])["items"].sum()
    assert (totals == len(cache)).all()
    classes = pd.read_csv(report / "locontent_classes.csv")
    assert set(classes["head"]) == {"binary", "coarse", "fine"} and (classes["pixels"] >= 0).all()
    table = (report / "locontent_table.tex").read_text()
    assert "\\toprule" in table and "\\bottomrule" in table and "Line art" in table
    assert (report / "locontent_composition.pdf").read_bytes()[:4] == b"%PDF"
    assert (report / "locontent_composition.png").stat().st_size > 10_000
    assert (report / "class_histograms.npz").is_file()
    executed = json.loads((tmp_path / "01_splits.ipynb").read_text())
    outputs = [output for cell in executed["cells"] for output in cell.get("outputs", [])]
    assert any("image/png" in output.get("data", {}) for output in outputs)
