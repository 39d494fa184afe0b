"""Executes notebooks 03_evaluate and 04_dg_gap with papermill on the tiny finished suite and checks their artefacts."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import papermill
import pytest

from eval_builders import evaluated_suite, tiny_suite
from heritage_core.evaluation.dg import COMPARISON_COLUMNS, RESULT_COLUMNS
from heritage_core.evaluation.store import load_counts
from heritage_core.runs import read_json

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _outputs(path: Path) -> list[dict]:
    return [o for cell in json.loads(path.read_text())["cells"] for o in cell.get("outputs", [])]


@pytest.mark.slow
def test_03_evaluate_writes_eval_and_figures(synthetic_cache: Path, tmp_path_factory: pytest.TempPathFactory,
                                             tmp_path: Path) -> None:
    suite = tiny_suite(synthetic_cache, tmp_path_factory.getbasetemp())
    run_dir = tmp_path / "run"
    shutil.copytree(suite.runs["hierarchical"], run_dir, ignore=shutil.ignore_patterns("eval", ".lock"))
    figures = tmp_path / "figures"
    executed = tmp_path / "03_evaluate.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "03_evaluate.ipynb"), str(executed), kernel_name="python3", progress_bar=False,
        parameters={"run_dir": str(run_dir), "partitions": ["ood_test"], "score_cache": "",
                    "consistent": True, "device": "cpu", "n_resamples": 50, "seed": 0,
                    "show_heads": ["binary", "fine"], "figures_dir": str(figures), "smoke": True},
    )
    info = read_json(run_dir / "eval" / "eval.json")
    # the run's own scale and precision (run.json "inference"), not a notebook parameter
    assert (info["tile"], info["overlap"], info["precision"], info["consistent"]) == (64, 0.25, "fp32", True)
    assert list(info["partitions"]) == ["ood_test"]
    assert "fine_consistent" in load_counts(run_dir / "eval" / "ood_test.npz")
    assert sorted(p.name for p in figures.glob("confusion_*.png")) == ["confusion_ood_test_binary.png",
                                                                        "confusion_ood_test_fine.png"]
    outputs = _outputs(executed)
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("text/html" in o.get("data", {}) for o in outputs)  # the per-class tables


@pytest.mark.slow
def test_04_dg_gap_writes_the_tidy_table_and_static_inspector(synthetic_cache: Path,
                                                              tmp_path_factory: pytest.TempPathFactory,
                                                              tmp_path: Path) -> None:
    suite, _ = evaluated_suite(synthetic_cache, tmp_path_factory.getbasetemp())
    out = tmp_path / "dg"
    executed = tmp_path / "04_dg_gap.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "04_dg_gap.ipynb"), str(executed), kernel_name="python3", progress_bar=False,
        parameters={"suite_dir": str(suite.suite_dir), "run_dirs": [], "output_dir": str(out), "n_resamples": 50,
                    "n_permutations": 50, "seed": 0, "heads": ["fine"], "static_widgets": None, "smoke": True},
    )
    results = pd.read_parquet(out / "results.parquet")
    assert tuple(results.columns) == RESULT_COLUMNS and set(results["partition"]) >= {"id_test", "ood_test", "gap"}
    assert len(pd.read_csv(out / "results.csv")) == len(results)
    gaps = pd.read_csv(out / "gaps.csv")
    assert gaps["variant"].tolist() == ["flat", "hierarchical"]
    comparisons = pd.read_csv(out / "comparisons.csv")
    assert tuple(comparisons.columns) == COMPARISON_COLUMNS and len(comparisons) == 2  # id_test, ood_test
    headline = pd.read_csv(out / "headline.csv")
    assert {"flat", "hierarchical", "all_clean"} <= set(headline["variant"])  # every result beside its floor
    assert {"headline_comparisons.csv", "budgets.csv"} <= {p.name for p in out.iterdir()}
    assert {"inspector_bars.png", "inspector_examples.png"} <= {p.name for p in (out / "inspector").iterdir()}
    last = json.loads(executed.read_text())["cells"][-1]["outputs"]
    assert sum("image/png" in o.get("data", {}) for o in last) == 2  # headless: the static figures are kept
