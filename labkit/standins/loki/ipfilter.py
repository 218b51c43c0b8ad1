"""``ip("...")`` filters: a single address, a CIDR prefix or a range, IPv4 or IPv6.

As a line filter (``|= ip("10.0.0.0/8")``, ``!= ip(...)``) it scans the line for
address-like runs the way Loki's ``pkg/logql/log/ip.go`` does (an IPv4 hint is a digit
followed by a dot within three characters, an IPv6 hint a short hex run and a colon) and
keeps the line when one of them parses and matches. As a label filter
(``| addr = ip("...")``, ``!=``) it reads the label's whole value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

_IPV4_CHARS = frozenset("0123456789.")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_HEX = frozenset("0123456789abcdefABCDEF")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class IPPatternError(ValueError):
    """The ip() pattern is none of an address, a CIDR prefix or a range."""


def _addr(text: str) -> Address | None:
    if not text or text != text.strip():
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def ip_matcher(pattern: str) -> Callable[[Address], bool]:
    """A test for one address, from ``pattern`` (Go's netip/netipx rules, near enough)."""
    single = _addr(pattern)
    if single is not None:
        return lambda a: a == single
    if "/" in pattern:
        try:
            net = ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            pass
        else:
            return lambda a: a.version == net.version and a in net
    lo_text, sep, hi_text = pattern.partition("-")
    lo, hi = _addr(lo_text), _addr(hi_text)
    if sep and lo is not None and hi is not None and lo.version == hi.version:
        first, last = int(lo), int(hi)
        if first <= last:
            return lambda a: a.version == lo.version and first <= int(a) <= last
    raise IPPatternError(f'ip: invalid pattern: "{pattern}"')


def _span(line: str, start: int, chars: frozenset[str]) -> int:
    n = start
    while n < len(line) and line[n] in chars:
        n += 1
    return n - start


def _ipv4_hint(s: str) -> bool:
    return s[0].isdigit() and s[0].isascii() and "." in s[1:4]


def _ipv6_hint(s: str) -> bool:
    if s[0] == ":" and s[1] == ":" and s[2] in _HEX:
        return True
    for k in range(1, 5):
        if all(c in _HEX for c in s[:k]) and s[k] == ":":
            return True
    return False


def line_test(pattern: str) -> Callable[[str], bool]:
    """Does a line hold an address matching ``pattern``? (Loki's scan, hint by hint.)"""
    match = ip_matcher(pattern)

    def test(line: str) -> bool:
        n, i = len(line), 0
        while i < n:
            for width, hint, chars in ((4, _ipv4_hint, _IPV4_CHARS), (5, _ipv6_hint, _IPV6_CHARS)):
                if i + width - 1 < n and hint(line[i:i + width]):
                    length = _span(line, i, chars)
                    a = _addr(line[i:i + length])
                    if a is not None and match(a):
                        return True
                    i += length
                    break
            i += 1
        return False

    return test


def label_test(pattern: str) -> Callable[[str], bool]:
    """Does a label value hold an address matching ``pattern``? (The same scan on it.)"""
    return line_test(pattern)
