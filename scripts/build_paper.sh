#!/usr/bin/env bash
# Build paper/build/SUITE.pdf from paper/main.tex and paper/generated/SUITE/ (notebook 05_paper_figures).
# Usage: scripts/build_paper.sh SUITE [--no-install]
# Checks for latexmk/pdflatex/bibtex and, when missing and running as root with apt-get, installs
# latexmk texlive-latex-base texlive-latex-recommended texlive-fonts-recommended. Fails with the list of
# missing generated files when the suite's figures and tables were not made. Aux files: paper/build/SUITE/.
set -euo pipefail
if [ "$#" -lt 1 ] || [ -z "$1" ]; then
  echo "usage: $0 SUITE [--no-install]   (e.g. $0 demo; SUITE is a folder of paper/generated/)" >&2
  exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$root/.venv/bin/python"
[ -x "$python" ] || python="$(command -v python3)"
cd "$root"
exec "$python" -m heritage_core.report "$1" --paper-dir "$root/paper" "${@:2}"
