"""Executes notebooks/05_paper_figures.ipynb with papermill on a fake finished suite and checks its artefacts."""
from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest
from report_builders import finished_suite

from heritage_core import report
from heritage_core.report import FIGURES

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "05_paper_figures.ipynb"


@pytest.mark.slow
def test_05_paper_figures_writes_every_asset_the_paper_needs(synthetic_cache: Path,
                                                             tmp_path_factory: pytest.TempPathFactory,
                                                             tmp_path: Path) -> None:
    suite = finished_suite(synthetic_cache, tmp_path_factory.getbasetemp() / "report_suite")
    executed = tmp_path / "05_paper_figures.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(executed), kernel_name="python3", progress_bar=False,
        parameters={"suite_dir": str(suite.suite_dir), "output_dir": str(tmp_path / "generated"),
                    "figures_dir": str(tmp_path / "png"), "variants": ["flat", "hierarchical", "curriculum"],
                    "example_fold": suite.folds[-1], "smoke": True},
    )
    out = tmp_path / "generated" / suite.name
    assert report.missing_assets(suite.name, tmp_path) == []
    macros = report.parse_numbers_tex((out / "numbers.tex").read_text())
    assert macros["CurriculumOnlyOODmIoU"] == "--"  # left out by the variants parameter, still defined
    assert macros["CurriculumOODmIoU"] != "--" and macros["NumFolds"] == str(len(suite.folds))
    assert "Curriculum only" not in (out / "tables" / "main_results.tex").read_text()
    assert sorted(p.stem for p in (tmp_path / "png").glob("*.png")) == sorted(FIGURES)
    curves = json.loads((out / "figures" / "training_curves.json").read_text())
    assert curves["parameters"]["fold"] == suite.folds[-1] and curves["suite"] == suite.name
    qualitative = json.loads((out / "figures" / "qualitative.json").read_text())
    assert len(qualitative["parameters"]["ids"]) == 1  # smoke: one example image
    assert json.loads((out / "assets.json").read_text())["missing_for_paper"] == []
    outputs = [o for cell in json.loads(executed.read_text())["cells"] for o in cell.get("outputs", [])]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == len(FIGURES)
    assert not any(o.get("output_type") == "error" for o in outputs)
