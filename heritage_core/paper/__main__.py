"""``python -m heritage_core.paper SUITE``: build ``paper/build/SUITE.pdf`` (see :func:`heritage_core.paper.build_paper`)."""
from __future__ import annotations

import sys

from heritage_core.paper.build import main

sys.exit(main())
