"""Building ``paper/build/<suite>.pdf`` with Debian's TeX Live (latexmk, pdflatex, bibtex).

``paper/main.tex`` reads ``generated/<suite>/`` through ``\\suite`` (``latexmk -usepretex='\\def\\suite{<suite>}'``);
aux files stay in ``paper/build/<suite>/`` and the PDF is copied to ``paper/build/<suite>.pdf``. Command line:
``python -m heritage_core.report SUITE`` (what ``scripts/build_paper.sh`` and ``make paper`` run).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from heritage_core.errors import ConfigError, SuiteError
from heritage_core.runs import atomic_write_bytes

__all__ = ["REQUIRED_ASSETS", "TEX_PACKAGES", "missing_assets", "ensure_tex", "build_paper", "main"]

# --------------------------------------------------------------------------- the build
#: Generated files the paper needs, relative to ``paper/generated/<suite>/``.
REQUIRED_ASSETS = (
    "numbers.tex",
    "tables/main_results.tex", "tables/per_fold.tex", "tables/per_class.tex", "tables/per_class_gap.tex",
    "tables/ablation.tex",
    "figures/training_curves.pdf", "figures/dg_gap.pdf", "figures/class_iou_heatmap.pdf", "figures/class_gap.pdf",
    "figures/confusion.pdf",
    "figures/qualitative.pdf", "figures/split_composition.pdf", "figures/class_distribution.pdf",
)
#: Debian packages that hold every LaTeX package the paper and tables use.
TEX_PACKAGES = ("latexmk", "texlive-latex-base", "texlive-latex-recommended", "texlive-fonts-recommended")
_SUITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def missing_assets(suite: str, paper_dir: str | Path = "paper") -> list[Path]:
    """Generated files of :data:`REQUIRED_ASSETS` that ``paper/generated/<suite>/`` lacks."""
    root = Path(paper_dir) / "generated" / suite
    return [root / rel for rel in REQUIRED_ASSETS if not (root / rel).is_file()]


def ensure_tex(install: bool = True) -> dict[str, str]:
    """Find latexmk, pdflatex and bibtex; install Debian's TeX Live when they are missing and allowed.

    Installing needs root and ``apt-get``; it runs ``apt-get install -y --no-install-recommends`` with
    :data:`TEX_PACKAGES` (after ``apt-get update`` if the first attempt fails).

    Args:
        install: whether to install missing tools.

    Returns:
        Tool name -> path.

    Raises:
        SuiteError: a tool is missing and cannot be installed here.
    """
    tools = ("latexmk", "pdflatex", "bibtex")
    found = {t: shutil.which(t) for t in tools}
    if all(found.values()):
        return {t: str(p) for t, p in found.items()}
    missing = [t for t, p in found.items() if not p]
    command = ["apt-get", "install", "-y", "--no-install-recommends", *TEX_PACKAGES]
    if install and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(command, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True)
            subprocess.run(command, env=env, capture_output=True)
        found = {t: shutil.which(t) for t in tools}
        if all(found.values()):
            return {t: str(p) for t, p in found.items()}
    raise SuiteError(f"building the paper needs {', '.join(missing)}, which are not installed; install them with "
                     f"'sudo {' '.join(command)}' (Debian/Ubuntu), or any TeX Live with latexmk")


def _latex_error(log: Path) -> str:
    if not log.is_file():
        return "(no log written)"
    lines = log.read_text(errors="replace").splitlines()
    error = re.compile(r"^(!|\S+\.(tex|sty|cls|bbl):\d+: )")
    at = next((k for k, line in enumerate(lines) if error.match(line)), None)
    return "\n".join(lines[at:at + 6] if at is not None else lines[-12:])


def build_paper(
    suite: str, paper_dir: str | Path = "paper", *, install: bool = True, timeout_s: float = 300.0
) -> Path:
    """Build ``paper/build/<suite>.pdf`` from ``paper/main.tex`` and ``paper/generated/<suite>/``.

    Runs ``latexmk -pdf`` (pdflatex + bibtex) in ``paper_dir`` with ``\\def\\suite{<suite>}`` before
    ``main.tex``; aux files go to ``paper/build/<suite>/``, and the PDF is then copied to
    ``paper/build/<suite>.pdf`` atomically.

    Args:
        suite: suite name (letters, digits, ``_``, ``-``, ``.``).
        paper_dir: the folder holding ``main.tex``, ``references.bib`` and ``generated/``.
        install: install TeX Live when missing (root with apt-get only; see :func:`ensure_tex`).
        timeout_s: limit for the LaTeX run, s.

    Returns:
        The PDF path.

    Raises:
        ConfigError: a bad suite name, or no ``main.tex`` in ``paper_dir``.
        SuiteError: generated files are missing (the suite's figures and tables were not made), TeX is
            missing, or LaTeX failed (the message quotes the error from the log).
    """
    if not isinstance(suite, str) or not _SUITE_NAME.match(suite):
        raise ConfigError(f"suite name {suite!r} must be letters, digits, '_', '-' or '.', e.g. 'demo'")
    paper_dir = Path(paper_dir)
    if not (paper_dir / "main.tex").is_file():
        raise ConfigError(f"no main.tex in '{paper_dir}'; pass the paper folder of the repository (paper/)")
    missing = missing_assets(suite, paper_dir)
    if missing:
        root = paper_dir / "generated" / suite
        made = sorted(p.name for p in (paper_dir / "generated").glob("*") if p.is_dir())
        what = (f"'{root}' does not exist (suites with assets: {made or 'none'})" if not root.is_dir()
                else f"'{root}' lacks {[str(p.relative_to(root)) for p in missing]}")
        raise SuiteError(
            f"the paper of suite '{suite}' cannot be built: {what}. Run notebook 05_paper_figures with "
            f"suite_dir='suites/{suite}' and output_dir='{paper_dir / 'generated'}' (or "
            f"heritage_core.report.write_paper_assets) after the suite's runs are evaluated and collected "
            f"(notebooks 03 and 04)")
    tools = ensure_tex(install)
    out_dir = Path("build") / suite
    (paper_dir / out_dir).mkdir(parents=True, exist_ok=True)
    command = [tools["latexmk"], "-pdf", "-bibtex", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
               f"-outdir={out_dir}", f"-jobname={suite}", f"-usepretex=\\def\\suite{{{suite}}}", "main.tex"]
    try:
        result = subprocess.run(command, cwd=paper_dir, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise SuiteError(f"LaTeX did not finish within {timeout_s:.0f} s for suite '{suite}'; see "
                         f"'{paper_dir / out_dir / suite}.log'") from exc
    pdf = paper_dir / out_dir / f"{suite}.pdf"
    if result.returncode != 0 or not pdf.is_file():
        raise SuiteError(f"LaTeX failed for suite '{suite}' (latexmk exit {result.returncode}); from "
                         f"'{paper_dir / out_dir / suite}.log':\n{_latex_error(paper_dir / out_dir / f'{suite}.log')}")
    return atomic_write_bytes(paper_dir / "build" / f"{suite}.pdf", pdf.read_bytes())


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m heritage_core.report SUITE``: build the paper of a suite (used by ``make paper``)."""
    parser = argparse.ArgumentParser(prog="python -m heritage_core.report", description=build_paper.__doc__.split("\n")[0])
    parser.add_argument("suite", help="suite name; its assets are in PAPER_DIR/generated/SUITE")
    parser.add_argument("--paper-dir", default="paper", help="folder with main.tex (default: paper)")
    parser.add_argument("--no-install", action="store_true", help="never install TeX Live, fail instead")
    args = parser.parse_args(argv)
    try:
        pdf = build_paper(args.suite, args.paper_dir, install=not args.no_install)
    except (ConfigError, SuiteError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {pdf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
