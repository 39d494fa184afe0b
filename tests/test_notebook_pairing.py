"""Every notebooks/*.ipynb has a jupytext py:percent twin with the same cells, and is committed without outputs."""
from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

from heritage_core.suite.lab import KERNELSPEC

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def cell_signature(notebook: nbformat.NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
    """(cell type, source without trailing blank lines, sorted tags) of each cell; outputs, other metadata ignored."""
    return [(cell.cell_type, cell.source.rstrip(), tuple(sorted(cell.metadata.get("tags", []))))
            for cell in notebook.cells]


def pairing_problems(ipynb: Path) -> list[str]:
    """What is wrong with the pair ``ipynb`` / its ``.py`` twin (empty when they match)."""
    twin = ipynb.with_suffix(".py")
    if not twin.is_file():
        return [f"{ipynb.name} has no jupytext twin {twin.name}; create it with 'jupytext --to py:percent {ipynb}'"]
    text = twin.read_text()
    if "format_name: percent" not in text or "# %%" not in text:
        return [f"{twin.name} is not in jupytext py:percent format"]
    left = cell_signature(nbformat.read(ipynb, as_version=4))
    right = cell_signature(jupytext.read(twin, fmt="py:percent"))
    if left == right:
        return []
    problems = [f"{ipynb.name} has {len(left)} cells, {twin.name} has {len(right)}"] if len(left) != len(right) else []
    for k, (a, b) in enumerate(zip(left, right)):
        if a != b:
            problems.append(f"cell {k} differs: ipynb {a!r} vs py {b!r}")
    return problems + [f"re-sync with 'jupytext --sync {twin}'"]


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "no notebooks/*.ipynb found"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_matches_its_py_percent_twin(ipynb: Path) -> None:
    assert pairing_problems(ipynb) == []


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_clean(ipynb: Path) -> None:
    notebook = nbformat.read(ipynb, as_version=4)
    # exactly the kernelspec `make lab` registers, and no language_info (a machine's Python version): opening
    # the notebook in JupyterLab then leaves its metadata as it is (heritage_core/suite/lab.py)
    assert notebook.metadata.get("kernelspec") == KERNELSPEC
    assert "language_info" not in notebook.metadata
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and "parameters" in code[0].metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    dirty = [k for k, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count)]
    assert dirty == [], f"cells {dirty} of {ipynb.name} hold outputs; clear them before committing"


def test_drift_is_detected(tmp_path: Path) -> None:
    py = tmp_path / "nb.py"
    py.write_text("# ---\n# jupyter:\n#   jupytext:\n#     text_representation:\n"
                  "#       format_name: percent\n# ---\n\n"
                  "# %% tags=[\"parameters\"]\nx = 1  # a value\n\n# %% [markdown]\n# Title\n\n# %%\nprint(x)\n")
    ipynb = tmp_path / "nb.ipynb"
    jupytext.write(jupytext.read(py, fmt="py:percent"), ipynb, fmt="ipynb")
    assert pairing_problems(ipynb) == []
    py.write_text(py.read_text().replace("print(x)", "print(x + 1)"))
    assert any("cell 2 differs" in p for p in pairing_problems(ipynb))
    py.write_text(py.read_text().replace('# %% tags=["parameters"]', "# %%"))
    assert any("cell 0 differs" in p for p in pairing_problems(ipynb))
    py.write_text(py.read_text() + "\n# %%\ny = 2\n")
    assert "has 3 cells" in pairing_problems(ipynb)[0]
    py.unlink()
    assert "no jupytext twin" in pairing_problems(ipynb)[0]
