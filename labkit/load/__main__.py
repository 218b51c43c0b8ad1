"""``python -m labkit.load``: the same as ``labkit load``."""

from __future__ import annotations

import sys

from labkit.load.cli import main

sys.exit(main())
