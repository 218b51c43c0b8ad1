"""labkit's Loki-compatible log store: Loki's push and query HTTP API, with a LogQL subset.

Run it with ``python -m labkit.standins.loki --host 127.0.0.1 --port 3100 --data-dir DIR``;
``/ready`` answers ``ready``. Entries persist in ``DIR/entries.log``.

LogQL supported (see docs/logql.md for details and examples):

- stream selectors ``=`` ``!=`` ``=~`` ``!~``; line filters ``|=`` ``!=`` ``|~`` ``!~``
  ``|>`` ``!>`` (chained, ``or``), ``ip("...")`` line and label filters
- parsers ``json`` (optionally ``json a="x.y", b``), ``logfmt``, ``regexp``, ``pattern``
- label filters on strings, numbers, durations and byte sizes, with ``and``, ``or``, ``,``, ``()``
- ``line_format``, ``label_format`` (Go templates with Loki's documented functions),
  ``drop``, ``keep``, ``decolorize``, ``unwrap`` with ``duration()``, ``duration_seconds()``,
  ``bytes()``
- range aggregations ``count_over_time rate bytes_over_time bytes_rate sum_over_time avg_over_time
  min_over_time max_over_time stddev_over_time stdvar_over_time quantile_over_time first_over_time
  last_over_time absent_over_time``, with ``offset``
- vector aggregations ``sum avg min max count stddev stdvar topk bottomk approx_topk`` with
  ``by``/``without``; ``label_replace``
- ``+ - * / % ^`` and ``== != > >= < <=`` (with ``bool``), ``and or unless`` between vectors
  and scalars, ``on``/``ignoring`` with ``group_left``/``group_right``; ``vector(n)``

Regular expressions run on RE2. Refused with a 400 naming the construct (docs/logql.md):
``unpack``, ``rate_counter``, subqueries and the other constructs listed there.
"""

from __future__ import annotations

from labkit.standins.loki.app import create_app, serve

__all__ = ["create_app", "serve"]
