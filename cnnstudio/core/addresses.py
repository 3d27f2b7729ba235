"""``host:port`` network addresses, as TF_CONFIG's workers and Ray's cluster addresses are given."""

from __future__ import annotations

import re

# a name, an IPv4 address or a bracketed IPv6 one, then 1 to 5 ASCII digits
HOST_PORT = re.compile(r"([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})")


def host_and_port(text: str) -> tuple[str, int] | None:
    """The host (an IPv6 address without its brackets) and port of ``host:port``, or None when ``text`` is not one
    with a port of 1 to 65535."""
    match = HOST_PORT.fullmatch(text)
    if match is None or not 0 < int(match.group(2)) < 65536:
        return None
    return match.group(1).strip("[]"), int(match.group(2))
