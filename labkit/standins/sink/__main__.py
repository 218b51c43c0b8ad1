"""``python -m labkit.standins.sink --port 9097 --data-dir DIR``."""

from __future__ import annotations

from .app import main

if __name__ == "__main__":
    main()
