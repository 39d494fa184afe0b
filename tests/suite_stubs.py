"""Stub notebooks for the suite tests: each declares the parameters the suite passes and writes the artefacts its
real counterpart would, in a fraction of a second of kernel time, and appends its step to ``executions.log``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

from heritage_core.suite.plan import NOTEBOOKS, SuitePlan

#: Set this environment variable to a substring of a run_dir to make the stub 02 fail for that run.
FAIL_ENV = "HERITAGE_STUB_FAIL"

_BODIES = {
    "01_splits": """
for s in seeds:
    for f in ["artistic_depiction", "photographic_depiction", "line_art", "geometric_patterns"]:
        write(f"{output_dir}/{protocol}_seed{s}_{f}.json", "{}")
log("01_splits")""",
    "02_train_curriculum": """
if os.environ.get(FAIL_ENV, "\\0") in run_dir:
    raise RuntimeError(f"deliberate failure of {run_dir}")
write(f"{run_dir}/run.json", json.dumps({"status": "finished"}))
log(f"{run_dir} 02")""",
    "03_evaluate": """
write(f"{run_dir}/eval/metrics.json", "{}")
log(f"{run_dir} 03")""",
    "04_dg_gap": """
write(f"{output_dir}/results.csv", "suite\\n")
log("04_dg_gap")""",
    "05_paper_figures": """
write(f"{output_dir}/{pathlib.Path(suite_dir).name}/numbers.tex", "% numbers\\n")
log("05_paper_figures")""",
    "06_film_real": """
write(f"{output_dir}/film_loso.json", "{}")
log("06_film_real")""",
}

_PRELUDE = f"""import json, os, pathlib, time
FAIL_ENV = "{FAIL_ENV}"
def write(path, text):
    p = pathlib.Path(path); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(text)
def log(line):
    with open("executions.log", "a") as fh:
        fh.write(f"{{time.time():.3f}} {{line}}\\n")"""


def write_stub_notebooks(folder: Path, plan: SuitePlan, drop: dict[str, str] | None = None) -> Path:
    """Write the stub notebooks (01-06) for ``plan`` into ``folder``.

    Args:
        folder: output folder.
        plan: a plan whose parameters the stubs declare.
        drop: notebook -> a parameter left out of its parameters cell (to test the declaration check).

    Returns:
        ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for notebook in NOTEBOOKS:
        names: dict[str, Any] = {}
        for step in plan.steps:
            if step.notebook == notebook:
                names.update(step.parameters)
        names.pop((drop or {}).get(notebook, ""), None)
        params = nbformat.v4.new_code_cell("\n".join(f"{k} = None" for k in names))
        params.metadata["tags"] = ["parameters"]
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [params, nbformat.v4.new_code_cell(_PRELUDE), nbformat.v4.new_code_cell(_BODIES[notebook].strip())]
        nbformat.write(nb, str(folder / f"{notebook}.ipynb"))
    return folder


def executions(root: Path) -> list[str]:
    """The steps the stubs executed under ``root``, in order (run dirs relative to ``suites/<name>/runs``)."""
    path = root / "executions.log"
    if not path.is_file():
        return []
    lines = [line.split(" ", 1)[1] for line in path.read_text().splitlines()]
    return [line.split("/runs/", 1)[-1] for line in lines]
