"""``python -m heritage_core.suite``: the suite runner's command line (see :mod:`heritage_core.suite.runner`)."""
from __future__ import annotations

import sys

from heritage_core.suite.runner import main

sys.exit(main())
