"""Ports for servers the tests start later (``hub serve --port N`` subprocesses).

Where the server can bind port 0 and report the port, tests do that instead (the demo, aiohttp
``TestServer``). ``hub serve`` takes a fixed ``--port`` and is restarted on the same one, so
the test has to pick. ``bind(0)`` then close is racy: the kernel hands the same ephemeral range
to every ``bind(0)`` and every outgoing connection, so a released port can be taken before the
hub binds it (or between a kill and a restart). :func:`free_port` picks from *below* that range,
where neither happens, checks that the port can be bound, and never returns one twice.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()
_LOWEST = 20_000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port outside the ephemeral range that can be bound now, not handed out
    before in this session."""
    high = _ephemeral_low()
    rng = random.SystemRandom()  # parallel sessions must not share a sequence
    if high - _LOWEST >= 1000:
        for _ in range(200):
            port = rng.randrange(_LOWEST, high)
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    # An unusual range configuration: fall back to the kernel's pick, still never twice.
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
