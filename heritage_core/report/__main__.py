"""``python -m heritage_core.report SUITE``: build ``paper/build/SUITE.pdf`` (see :func:`heritage_core.report.build_paper`)."""
from __future__ import annotations

import sys

from heritage_core.report.build import main

sys.exit(main())
