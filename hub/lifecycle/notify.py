"""Notifications of newly opened alarms: the :class:`Notifier` interface and a webhook.

The webhook POSTs ``{"alarms": [...]}`` (JSON) with ``Hub-Signature: t=<unix>,v1=<hex>``,
HMAC-SHA256 over ``"<t>.alarms.<sha256(body)>"`` — exactly the push deliveries' scheme
(:func:`hub.delivery.push_signature` with the package id ``alarms``), so a receiver verifies it
with :func:`hub.delivery.verify_push_signature`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiohttp

from hub.delivery import push_signature

if TYPE_CHECKING:
    from hub.lifecycle.alarms import Alarm

SIGNATURE_ID = "alarms"
"""The "package id" the webhook signature covers."""


class Notifier(Protocol):
    """Something that tells people about newly opened alarms."""

    async def notify(self, alarms: Sequence[Alarm]) -> None:
        """Send one notification for these alarms; raise if it could not be delivered."""


class WebhookNotifier:
    """POST the alarms to ``url``, signed with the secret; 3 attempts with back-off."""

    def __init__(
        self, url: str, secret: bytes, *, timeout: float = 10.0, attempts: int = 3
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.attempts = attempts

    @classmethod
    def from_file(cls, url: str, secret_file: Path) -> WebhookNotifier:
        """Secret read from a file (trailing whitespace ignored)."""
        return cls(url, secret_file.read_bytes().strip())

    async def notify(self, alarms: Sequence[Alarm]) -> None:
        """POST once; retry on network errors and non-2xx answers."""
        body = json.dumps({"alarms": [a.as_dict() for a in alarms]}, ensure_ascii=False).encode()
        last: Exception | None = None
        for attempt in range(self.attempts):
            headers = {
                "Content-Type": "application/json",
                "Hub-Signature": push_signature(self.secret, SIGNATURE_ID, int(time.time()), body),
            }
            try:
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as s,
                    s.post(self.url, data=body, headers=headers) as resp,
                ):
                    if 200 <= resp.status < 300:
                        return
                    last = RuntimeError(f"webhook answered {resp.status}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = exc
            await asyncio.sleep(0.5 * 2**attempt)
        raise RuntimeError(f"alarm webhook {self.url} failed: {last}")


class MemoryNotifier:
    """Keeps notified alarms in a list (tests, the demo)."""

    def __init__(self) -> None:
        self.sent: list[Alarm] = []

    async def notify(self, alarms: Sequence[Alarm]) -> None:
        """Remember them."""
        self.sent.extend(alarms)
