"""labkit's log shipper: tail JSON log files into Loki's push API.

The local runtime's stand-in for Grafana Alloy (``stack/alloy/config.alloy`` is
the same pipeline for the docker runtime). It follows files by inode across
rotations, keeps a positions file, labels each line with ``job`` (static) and
``level`` (from the line), and retries while Loki is down::

    python -m labkit.shipper --path 'run/logs/gateway.log*' \\
        --loki-url http://127.0.0.1:3100 --positions run/shipper/positions.json \\
        --label job=llm-api
"""

from __future__ import annotations

from labkit.shipper.entries import Entry, make_entry, parse_labels, push_payload
from labkit.shipper.shipper import Shipper

__all__ = ["Entry", "Shipper", "make_entry", "parse_labels", "push_payload"]
