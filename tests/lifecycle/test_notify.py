"""The alarm webhook: its URL (often the secret itself) never reaches an error or a log line
beyond scheme, host and port; a notification that keeps failing is a coded error; the back-off
waits between attempts only."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.errors import HubError
from hub.lifecycle.alarms import Alarm
from hub.lifecycle.notify import NotifyFailed, WebhookNotifier
from hub.logs import url_origin

SECRET_PATH = "/hooks/T0001/B0002/s3cretHookPath"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _alarm() -> Alarm:
    return Alarm(
        kind="agency_silent",
        key="agency:000.00.00.H41",
        agency="000.00.00.H41",
        subject="000.00.00.H41",
        since=NOW,
        age_days=3,
    )


@pytest.fixture
async def failing_hook() -> AsyncIterator[tuple[str, list[str]]]:
    """A webhook answering 500 at a secret path; the paths it was called at."""
    calls: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        calls.append(request.path)
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post(SECRET_PATH, hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}", calls
    finally:
        await server.close()


async def test_a_failing_webhook_is_a_coded_error_without_the_secret_url(
    failing_hook: tuple[str, list[str]],
) -> None:
    origin, calls = failing_hook
    host_port = origin.removeprefix("http://")
    url = f"http://alarm-user:pa55word@{host_port}{SECRET_PATH}?token=qtoken"
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    notifier = WebhookNotifier(url, b"k", attempts=3, sleep=sleep)
    with pytest.raises(NotifyFailed) as info:
        await notifier.notify([_alarm()])
    err = info.value
    assert isinstance(err, HubError) and err.code == "alarm.notify_failed"
    text = f"{err} {err.to_problem()}"
    for secret in ("s3cretHookPath", "pa55word", "alarm-user", "qtoken", "hooks"):
        assert secret not in text, text
    assert origin in text and "answered 500" in text
    assert calls == [SECRET_PATH] * 3
    # back-off between attempts only: none after the last one
    assert slept == [0.5, 1.0]


async def test_an_unreachable_webhook_names_its_host_only() -> None:
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    url = f"http://u:pw@127.0.0.1:{port}{SECRET_PATH}"
    with pytest.raises(NotifyFailed) as info:
        await WebhookNotifier(url, b"k", attempts=2, sleep=sleep).notify([_alarm()])
    assert "s3cretHookPath" not in str(info.value) and ":pw@" not in str(info.value)
    assert f"http://127.0.0.1:{port}" in str(info.value)
    assert slept == [0.5]


async def test_one_attempt_never_sleeps(failing_hook: tuple[str, list[str]]) -> None:
    origin, calls = failing_hook
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    with pytest.raises(NotifyFailed):
        await WebhookNotifier(origin + SECRET_PATH, b"k", attempts=1, sleep=sleep).notify(
            [_alarm()]
        )
    assert (calls, slept) == ([SECRET_PATH], [])


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com"),
        ("http://user:pw@10.0.0.1:8080/x?token=a#f", "http://10.0.0.1:8080"),
        ("https://[2001:db8::1]:8443/hook", "https://[2001:db8::1]:8443"),
        ("not a url", "<unparseable URL>"),
        ("http://host:99999/secret", "<unparseable URL>"),
    ],
)
def test_url_origin(url: str, origin: str) -> None:
    assert url_origin(url) == origin
