"""Notifications of newly opened alarms: the :class:`Notifier` interface and a webhook.

The webhook POSTs ``{"alarms": [...]}`` (JSON) with ``Hub-Signature: t=<unix>,v1=<hex>``,
HMAC-SHA256 over ``"<t>.alarms.<sha256(body)>"`` — exactly the push deliveries' scheme
(:func:`hub.delivery.push_signature` with the package id ``alarms``), so a receiver verifies it
with :func:`hub.delivery.verify_push_signature`.

The webhook's URL is a secret more often than not (a chat service's ``.../hooks/<secret>``, a
``user:password@``): errors and logs name its scheme, host and port only
(:func:`hub.logs.url_origin`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiohttp

from hub.errors import HubError
from hub.logs import url_origin
from hub.webhook_signature import push_signature

if TYPE_CHECKING:
    from hub.lifecycle.alarms import Alarm

SIGNATURE_ID = "alarms"
"""The "package id" the webhook signature covers."""


class NotifyFailed(HubError):
    """A notification of newly opened alarms could not be delivered: the webhook kept
    failing (no answer, or no 2xx) through every attempt. Logged by the alarm evaluation
    (the alarms stay claimed: at most once), never an API answer. The detail names the
    webhook's scheme, host and port only."""

    code = "alarm.notify_failed"
    status = 502
    title = "The alarm notification could not be delivered"


class Notifier(Protocol):
    """Something that tells people about newly opened alarms."""

    async def notify(self, alarms: Sequence[Alarm]) -> None:
        """Send one notification for these alarms; raise if it could not be delivered."""


class WebhookNotifier:
    """POST the alarms to ``url``, signed with the secret; ``attempts`` tries, waiting
    ``backoff`` seconds before the second, twice as long before each next one (never after
    the last). ``sleep`` is how it waits (tests pass a recorder)."""

    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._sleep = sleep
        #: what errors and logs name of the webhook: never its path, query or credentials
        self.origin = url_origin(url)

    @classmethod
    def from_file(cls, url: str, secret_file: Path) -> WebhookNotifier:
        """Secret read from a file (trailing whitespace ignored)."""
        return cls(url, secret_file.read_bytes().strip())

    async def notify(self, alarms: Sequence[Alarm]) -> None:
        """POST once; retry on network errors and non-2xx answers.

        :raises NotifyFailed: when no attempt got a 2xx answer.
        """
        body = json.dumps({"alarms": [a.as_dict() for a in alarms]}, ensure_ascii=False).encode()
        last = ""
        timeout = aiohttp.ClientTimeout(total=self.timeout)  # per attempt
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for attempt in range(self.attempts):
                if attempt:
                    await self._sleep(self.backoff * 2 ** (attempt - 1))
                headers = {
                    "Content-Type": "application/json",
                    "Hub-Signature": push_signature(
                        self.secret, SIGNATURE_ID, int(time.time()), body
                    ),
                }
                try:
                    async with session.post(self.url, data=body, headers=headers) as resp:
                        if 200 <= resp.status < 300:
                            return
                        last = f"answered {resp.status}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    # The type and the OS's reason only: aiohttp's texts may quote the whole
                    # URL (InvalidURL, ClientResponseError), which is the secret.
                    reason = exc.strerror if isinstance(exc, OSError) else None
                    last = type(exc).__name__ + (f": {reason}" if reason else "")
        raise NotifyFailed(
            f"alarm webhook {self.origin} failed after {self.attempts} attempts: {last}",
            webhook=self.origin,
        )


class MemoryNotifier:
    """Keeps notified alarms in a list (tests, the demo)."""

    def __init__(self) -> None:
        self.sent: list[Alarm] = []

    async def notify(self, alarms: Sequence[Alarm]) -> None:
        """Remember them."""
        self.sent.extend(alarms)
