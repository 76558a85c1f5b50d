"""Expiring, HMAC-signed links to files an adapter hands to a system by URL.

Some systems take documents by reference, not by value: the national portal's
``DongBoHoSoMC`` carries a submitted document as ``DuongDanTaiTepTin`` (a URL the portal
downloads), never as base64. The files arrive at the connector inside a signed dossier package;
the connector is the only party that holds them, so the link points at the **connector's own
small HTTP endpoint** (:class:`FileLinkServer`), not at the hub: the hub core never serves an
agency's documents, and the portal reaches the connector through the same LGSP/reverse proxy
that publishes ``public_url``.

A link is ``{public_url}/files/{sha256}/{name}?exp={unix seconds}&sig={hex}`` where ``sig`` is
HMAC-SHA256 (key: ``link_key``) over ``"GET\\n/files/{sha256}/{name}\\n{exp}"``. The server
refuses a link whose signature does not match (403, ``link.bad_signature``) or whose ``exp`` has
passed on its clock (410, ``link.expired``); a file it does not hold is 404. The content is
addressed by its SHA-256, so the same file in two dossiers is stored once and a link can never
serve other bytes than the ones it was made for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

__all__ = ["FileLinkServer", "LinkRefused", "LinkSigner", "load_link_key"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


class LinkRefused(Exception):
    """A link that must not be served; ``code`` is ``link.bad_signature`` or
    ``link.expired``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def load_link_key(path: Path) -> bytes:
    """The signing key kept at ``path`` (32 random bytes, hex), created 0600 if missing, so
    links stay valid across restarts of the connector."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text("ascii").strip())


@dataclass(frozen=True)
class LinkSigner:
    """Signs and checks ``(path, exp)``; ``clock`` gives Unix seconds (tests inject one)."""

    key: bytes
    clock: Callable[[], float] = time.time

    def _mac(self, path: str, exp: int) -> str:
        text = f"GET\n{path}\n{exp}".encode()
        return hmac.new(self.key, text, hashlib.sha256).hexdigest()

    def sign(self, path: str, ttl: float) -> str:
        """``path?exp=…&sig=…``, valid for ``ttl`` seconds from now."""
        exp = int(self.clock() + ttl)
        return f"{path}?exp={exp}&sig={self._mac(path, exp)}"

    def check(self, path: str, exp: str, sig: str) -> None:
        """Raise :class:`LinkRefused` unless ``sig`` signs ``(path, exp)`` and ``exp`` is
        still ahead of the clock. The signature is checked first, so a forged ``exp`` is a
        bad signature, not a valid link."""
        try:
            when = int(exp)
        except ValueError:
            raise LinkRefused("link.bad_signature", "exp is not a number") from None
        if not hmac.compare_digest(self._mac(path, when), sig):
            raise LinkRefused("link.bad_signature", "the link's signature does not match")
        if self.clock() >= when:
            raise LinkRefused("link.expired", "the link has expired")


class FileLinkServer:
    """Files by expiring link, from a content-addressed folder, on a small aiohttp server.

    ``put`` stores the bytes (once per SHA-256) and returns a signed URL under ``public_url``
    (default: the address the server listens on). ``start``/``stop`` run the endpoint.
    """

    def __init__(
        self,
        directory: Path,
        signer: LinkSigner,
        *,
        ttl: float = 7 * 24 * 3600.0,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
    ) -> None:
        self.directory = directory
        self.signer = signer
        self.ttl = ttl
        self.host = host
        self.port = port
        self._public_url = public_url.rstrip("/") if public_url else None
        self._runner: web.AppRunner | None = None
        self.served: list[str] = []

    @property
    def public_url(self) -> str:
        """The base URL links are made under."""
        if self._public_url is None:
            raise RuntimeError("FileLinkServer: start() first or give public_url")
        return self._public_url

    def put(self, data: bytes, name: str, content_type: str) -> str:
        """Keep ``data`` and return a signed link to it (valid for ``ttl`` seconds)."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.directory / digest
        if not target.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f".{digest}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, target)
        meta = self.directory / f"{digest}.json"
        if not meta.exists():
            meta.write_text(json.dumps({"content_type": content_type}), "utf-8")
        path = f"/files/{digest}/{quote(name or 'file', safe='')}"
        return self.public_url + self.signer.sign(path, self.ttl)

    async def start(self) -> str:
        """Listen; returns the base URL (``public_url`` unless one was configured)."""
        app = web.Application()
        app.router.add_get("/files/{sha}/{name}", self._get)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])
        if self._public_url is None:
            self._public_url = f"http://{self.host}:{self.port}"
        return self._public_url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _get(self, request: web.Request) -> web.StreamResponse:
        sha = request.match_info["sha"]
        # the path as signed: aiohttp hands the name decoded; encode it as put() did
        path = f"/files/{sha}/{quote(request.match_info['name'], safe='')}"
        try:
            self.signer.check(path, request.query.get("exp", ""), request.query.get("sig", ""))
        except LinkRefused as exc:
            status = 410 if exc.code == "link.expired" else 403
            return web.json_response({"code": exc.code, "error": str(exc)}, status=status)
        target = self.directory / sha
        if not _SHA256.fullmatch(sha) or not target.is_file():
            return web.json_response({"code": "link.not_found"}, status=404)
        meta = json.loads((self.directory / f"{sha}.json").read_text("utf-8"))
        self.served.append(sha)
        return web.Response(
            body=target.read_bytes(), headers={"Content-Type": str(meta["content_type"])}
        )
