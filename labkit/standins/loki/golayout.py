"""Go's ``time.Time`` for templates: formatting and parsing with Go layouts
(``2006-01-02T15:04:05.999999999Z07:00``), nanosecond precision.

The stand-in runs in UTC: ``now``, ``toDate`` and ``__timestamp__`` are UTC times, as they
are on a Loki server whose local zone is UTC. ``toDateInZone`` knows the IANA zones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_TOKENS = re.compile(
    r"January|Jan|Monday|Mon|MST|2006|2\b|_2|002|01|02|03|04|05|06|15|1|3|4|5|PM|pm"
    r"|Z07:00:00|Z070000|Z07:00|Z0700|Z07|-07:00:00|-070000|-07:00|-0700|-07"
    r"|[.,](?:0+|9+)(?!\d)"
)
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_NS = 10**9


@dataclass(frozen=True)
class GoTime:
    """An instant (ns since the epoch) seen in a zone."""

    ns: int
    zone: tzinfo = UTC

    def dt(self) -> datetime:
        return datetime.fromtimestamp(self.ns // _NS, tz=self.zone)

    def go_string(self) -> str:
        """time.Time.String(): ``2006-01-02 15:04:05.999999999 -0700 MST``."""
        return format_time(self, "2006-01-02 15:04:05.999999999 -0700 MST")

    def unix(self) -> int:
        return self.ns // _NS


def zone_named(name: str) -> tzinfo | None:
    if name in ("", "UTC", "Local"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _offset(dt: datetime, colon: bool, z: bool, secs: bool = False) -> str:
    off = int((dt.utcoffset() or timedelta()).total_seconds())
    if z and off == 0:
        return "Z"
    sign = "-" if off < 0 else "+"
    h, rem = divmod(abs(off), 3600)
    m, s = divmod(rem, 60)
    sep = ":" if colon else ""
    return f"{sign}{h:02d}{sep}{m:02d}" + (f"{sep}{s:02d}" if secs else "")


def format_time(t: GoTime, layout: str) -> str:
    """``t.Format(layout)``."""
    dt = t.dt()
    frac_ns = t.ns % _NS

    def tok(m: re.Match[str]) -> str:
        k = m.group(0)
        if k[0] in ".," and k[1] in "09":
            digits = f"{frac_ns:09d}"[: len(k) - 1]
            if k[1] == "9":
                digits = digits.rstrip("0")
                return k[0] + digits if digits else ""
            return k[0] + digits
        hour12 = dt.hour % 12 or 12
        table = {
            "2006": f"{dt.year:04d}", "06": f"{dt.year % 100:02d}",
            "January": _MONTHS[dt.month - 1], "Jan": _MONTHS[dt.month - 1][:3],
            "01": f"{dt.month:02d}", "1": str(dt.month),
            "Monday": _DAYS[dt.weekday()], "Mon": _DAYS[dt.weekday()][:3],
            "02": f"{dt.day:02d}", "_2": f"{dt.day:2d}", "2": str(dt.day),
            "002": f"{dt.timetuple().tm_yday:03d}", "15": f"{dt.hour:02d}",
            "03": f"{hour12:02d}", "3": str(hour12), "04": f"{dt.minute:02d}", "4": str(dt.minute),
            "05": f"{dt.second:02d}", "5": str(dt.second), "PM": "PM" if dt.hour >= 12 else "AM",
            "pm": "pm" if dt.hour >= 12 else "am", "MST": dt.tzname() or "UTC",
        }
        if k in table:
            return table[k]
        secs = k in ("Z07:00:00", "Z070000", "-07:00:00", "-070000")
        return _offset(dt, ":" in k, k.startswith("Z"), secs)

    return _TOKENS.sub(tok, layout)


def parse_time(layout: str, value: str, zone: tzinfo = UTC) -> GoTime:
    """``time.ParseInLocation(layout, value, zone)``; ValueError when it does not fit."""
    pattern, fields, pos = [], [], 0
    tokens = list(_TOKENS.finditer(layout))
    for i, m in enumerate(tokens):
        pattern.append(re.escape(layout[pos:m.start()]))
        k = m.group(0)
        fields.append(k)
        if k[0] in ".,":
            pattern.append(r"(?:[.,](\d+))?")
        else:
            pattern.append(_FIELD_RX[k])
            nxt = tokens[i + 1].group(0) if i + 1 < len(tokens) else ""
            if k in ("05", "5") and nxt[:1] not in (".", ","):
                fields.append(".9")  # Go accepts a fraction after the seconds anyway
                pattern.append(r"(?:[.,](\d+))?")
        pos = m.end()
    pattern.append(re.escape(layout[pos:]))
    found = re.fullmatch("".join(pattern), value)
    if found is None:
        raise ValueError(f'parsing time "{value}" as "{layout}": cannot parse')
    year, month, day, hour, minute, sec, ns, pm, off = 1, 1, 1, 0, 0, 0, 0, None, None
    for k, v in zip(fields, found.groups(), strict=True):
        if v is None:
            continue
        if k in ("2006",):
            year = int(v)
        elif k == "06":
            year = int(v) + (1900 if int(v) >= 69 else 2000)
        elif k in ("01", "1"):
            month = int(v)
        elif k in ("Jan", "January"):
            month = [x[: len(v)] for x in _MONTHS].index(v.title()[: len(v)]) + 1
        elif k in ("02", "_2", "2"):
            day = int(v)
        elif k in ("15", "03", "3"):
            hour = int(v)
        elif k in ("04", "4"):
            minute = int(v)
        elif k in ("05", "5"):
            sec = int(v)
        elif k[0] in ".,":
            ns = int((v + "000000000")[:9])
        elif k in ("PM", "pm"):
            pm = v.upper() == "PM"
        elif k.startswith(("Z", "-")):
            off = 0 if v == "Z" else _parse_offset(v)
    if pm is not None and hour < 12 and pm:
        hour += 12
    if pm is False and hour == 12:
        hour = 0
    tz: tzinfo = zone if off is None else timezone(timedelta(seconds=off))
    dt = datetime(year, month, day, hour, minute, sec, tzinfo=tz)
    return GoTime(int(dt.timestamp()) * _NS + ns, zone if off is None else tz)


def _parse_offset(v: str) -> int:
    sign = -1 if v[0] == "-" else 1
    digits = v[1:].replace(":", "")
    h, m, s = int(digits[:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    return sign * (h * 3600 + m * 60 + s)


_FIELD_RX = {
    "2006": r"(\d{4})", "06": r"(\d{2})", "01": r"(\d{2})", "1": r"(\d{1,2})",
    "January": r"([A-Za-z]+)", "Jan": r"([A-Za-z]{3})", "Monday": r"(?:[A-Za-z]+)",
    "Mon": r"(?:[A-Za-z]{3})", "02": r"(\d{2})", "_2": r" ?(\d{1,2})", "2": r"(\d{1,2})",
    "002": r"(\d{3})", "15": r"(\d{2})", "03": r"(\d{2})", "3": r"(\d{1,2})", "04": r"(\d{2})",
    "4": r"(\d{1,2})", "05": r"(\d{2})", "5": r"(\d{1,2})", "PM": r"(AM|PM)", "pm": r"(am|pm)",
    "MST": r"(?:[A-Z]{3,5}|[+-]\d+)",
    "Z07:00:00": r"(Z|[+-]\d{2}:\d{2}:\d{2})", "Z070000": r"(Z|[+-]\d{6})",
    "Z07:00": r"(Z|[+-]\d{2}:\d{2})", "Z0700": r"(Z|[+-]\d{4})", "Z07": r"(Z|[+-]\d{2})",
    "-07:00:00": r"([+-]\d{2}:\d{2}:\d{2})", "-070000": r"([+-]\d{6})",
    "-07:00": r"([+-]\d{2}:\d{2})", "-0700": r"([+-]\d{4})", "-07": r"([+-]\d{2})",
}
