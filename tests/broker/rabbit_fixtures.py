"""RabbitMQ for tests: a throw-away vhost per test module, ``rabbitmqctl`` helpers.

The server is expected on 127.0.0.1:5672 with guest/guest (CI's ``.ci/run`` starts it);
``rabbitmqctl`` on the same machine creates and deletes the vhost and closes connections for
the fault tests. Without the server the tests skip with the reason printed, and fail under
``HUB_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.conftest import require_service, skip_or_fail

_CONNECTION_NAME = re.compile(r'\{"connection_name",(?:"([^"]*)"|longstr,<<"([^"]*)">>)\}')

HOST, PORT = "127.0.0.1", 5672
USER, PASSWORD = "guest", "guest"


def amqp_url(vhost: str, port: int = PORT) -> str:
    """The URL of ``vhost`` on the test server (``port`` to point somewhere else)."""
    return f"amqp://{USER}:{PASSWORD}@{HOST}:{port}/{quote(vhost, safe='')}"


def rabbitmqctl(*args: str, timeout: float = 30.0) -> str:
    """Run ``rabbitmqctl`` quietly; its stdout. Raises on failure."""
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.stdout


def require_rabbitmq() -> None:
    """Skip (or fail under HUB_REQUIRE_SERVICES=1) without the server or ``rabbitmqctl``."""
    require_service("RabbitMQ", HOST, PORT)
    if shutil.which("rabbitmqctl") is None:
        skip_or_fail("rabbitmqctl is not installed (needed to create a test vhost)")


def grant(vhost: str) -> None:
    """Give guest every permission on ``vhost``."""
    rabbitmqctl("set_permissions", "-p", vhost, USER, ".*", ".*", ".*")


def revoke(vhost: str) -> None:
    """Take guest's permissions on ``vhost`` away (new connections are refused)."""
    rabbitmqctl("clear_permissions", "-p", vhost, USER)


def connections(vhost: str) -> dict[str, str]:
    """Open connections on ``vhost``: client-provided connection_name → connection pid."""
    out = rabbitmqctl("list_connections", "pid", "vhost", "client_properties", "--no-table-headers")
    found: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or parts[1] != vhost:
            continue
        # {"connection_name","x"} (3.10+) or {"connection_name",longstr,<<"x">>} (older)
        match = _CONNECTION_NAME.search(parts[2])
        if match:
            found[match.group(1) or match.group(2)] = parts[0]
    return found


def close_connection(pid: str, reason: str = "test: dropped by the server") -> None:
    """Close a connection (by pid) from the server side, as a broker restart would."""
    rabbitmqctl("close_connection", pid, reason)


@pytest.fixture(scope="module")
def rabbit_vhost() -> Iterator[str]:
    """A fresh vhost for the module, deleted afterwards with everything in it."""
    require_rabbitmq()
    vhost = f"hub-test-{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        grant(vhost)
        yield vhost
    finally:
        rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="module")
def rabbit_url(rabbit_vhost: str) -> str:
    """``amqp://guest:guest@127.0.0.1:5672/<the module's vhost>``"""
    return amqp_url(rabbit_vhost)
