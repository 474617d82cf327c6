"""Everything dlx draws in the terminal, with rich. The core never prints.

The shared helpers (the console, number format, cells) live in `dlx.report.text`, the
training progress and summary table in `dlx.report.progress`, and each command's tables in
a submodule; all are re-exported here so callers write `report.print_cv(...)`. Submodules
import `dlx.report.text`, never this package module, so no import runs in a circle.
"""

from __future__ import annotations

from dlx.report.text import *  # noqa: F401,F403
from dlx.report.progress import *  # noqa: F401,F403
from dlx.report.models import *  # noqa: F401,F403
from dlx.report.choices import *  # noqa: F401,F403
from dlx.report.sweep import *  # noqa: F401,F403
from dlx.report.cv import *  # noqa: F401,F403
from dlx.report.runs import *  # noqa: F401,F403
from dlx.report.show import *  # noqa: F401,F403
