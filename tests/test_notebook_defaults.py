"""The notebooks run as opened: their parameters default to the demo suite, and say what to run first without it.

After `make demo` every notebook 01-05 can be opened and run with its defaults: they are the parameters that
`heritage suite run parameters/demo.yaml` passes to one of its steps (so 02 finds its run finished and 03-05
rebuild what the demo built). Before `make demo`, the cell after the parameters stops with a message naming
the missing inputs and `make demo`.
"""
from __future__ import annotations

import ast
from pathlib import Path

import papermill
import pytest

from heritage_core.errors import ConfigError
from heritage_core.suite.plan import DEMO_SUITE, EXECUTION_PARAMETERS, NOTEBOOKS, check_notebook_inputs, plan_suite
from heritage_core.suite.profiles import load_profile

ROOT = Path(__file__).resolve().parents[1]
DEMO_STEPS = plan_suite(load_profile(ROOT / "parameters" / "demo.yaml"), root=ROOT).steps
#: The notebooks of the demo suite, and those that need an earlier one's outputs.
DEMO_NOTEBOOKS = NOTEBOOKS[:5]
NEEDS_INPUTS = NOTEBOOKS[1:5]
#: Defaults that choose what the suite holds: 05's "" is the results table's only encoder (the demo's test_resnet).
FROM_THE_SUITE = {("05_paper_figures", "encoder"): ""}


def _defaults(notebook: str) -> dict[str, object]:
    declared = papermill.inspect_notebook(str(ROOT / "notebooks" / f"{notebook}.ipynb"))
    return {name: ast.literal_eval(p["default"]) for name, p in declared.items()}


@pytest.mark.parametrize("notebook", DEMO_NOTEBOOKS)
def test_defaults_are_the_parameters_of_a_demo_step(notebook: str) -> None:
    defaults = _defaults(notebook)
    steps = [s for s in DEMO_STEPS if s.notebook == notebook]
    differences = []
    for step in steps:
        passed = {k: FROM_THE_SUITE.get((notebook, k), v) for k, v in step.parameters.items()
                  if k not in EXECUTION_PARAMETERS}
        differences.append({k: (defaults.get(k), v) for k, v in passed.items() if defaults.get(k) != v})
        if not differences[-1]:
            return
    pytest.fail(f"notebooks/{notebook}.py: parameters that differ from the demo suite's (default, demo) for its "
                f"closest step: {min(differences, key=len)}; set them in its parameters cell (then jupytext --sync)")


def test_check_notebook_inputs_names_the_missing_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "there").mkdir()
    check_notebook_inputs("03_evaluate", run_dir="there", score_cache="")  # present, and not used
    with pytest.raises(ConfigError, match=r"04_dg_gap: suite_dir 'suites/demo' not found .*run `make demo` first"):
        check_notebook_inputs("04_dg_gap", suite_dir=DEMO_SUITE)
    with pytest.raises(ConfigError) as raised:
        check_notebook_inputs("02_train_curriculum", cache_dir="there", manifest_path="elsewhere/m.json")
    assert "manifest_path 'elsewhere/m.json'" in str(raised.value) and "make demo" not in str(raised.value)
    assert "cache_dir" not in str(raised.value).split(";")[0]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NEEDS_INPUTS)
def test_without_the_demo_suite_the_first_cell_says_run_make_demo(notebook: str, tmp_path: Path) -> None:
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        papermill.execute_notebook(str(ROOT / "notebooks" / f"{notebook}.ipynb"), str(tmp_path / "out.ipynb"),
                                   kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    assert raised.value.cell_index == 2  # the cell after the parameters, before any heavy import
    assert raised.value.ename == "ConfigError" and "run `make demo` first" in raised.value.evalue
