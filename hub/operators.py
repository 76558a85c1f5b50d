"""Operator accounts for the dashboard: Argon2id password hashes, login throttling, sessions.

Operators are people at the hub's console, never agencies: their accounts live in their own
table, and an agency's bearer token or certificate opens nothing under ``/dashboard/``.

* Passwords are hashed with Argon2id (``argon2-cffi``, RFC 9106 low-memory profile); a hash
  made with older parameters is upgraded at the next successful login.
* A login for an unknown user still verifies against a dummy hash, so the answer time does not
  tell which usernames exist.
* Failed logins are throttled per username and per client address (sliding window), in the
  process: an attacker spreading guesses over several hub workers gains at most a factor of
  the worker count, and every failure is audited in the store.
* A session token is 32 random bytes; the store keeps only its SHA-256, so a database copy
  does not contain live sessions. Each session has its own CSRF token.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hub.store.facets import DashboardStore
from hub.store.records import ROLES, Operator, Session

_HASHER = PasswordHasher()  # Argon2id, argon2-cffi's defaults (RFC 9106 low-memory)
#: Where logins' Argon2id runs, off the event loop. Two at a time: each call takes a core and
#: 64 MiB, so a flood of attempts (from many addresses, past the throttle) queues here instead
#: of taking the memory, or the default executor other blocking calls share.
_ARGON2 = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hub-argon2")
_DUMMY_HASH = _HASHER.hash("not a password: equalises the time of unknown users")

MIN_PASSWORD_LENGTH = 10
SESSION_LIFETIME = timedelta(hours=8)


class OperatorError(ValueError):
    """An account cannot be created as asked (bad name, role or password)."""


def hash_password(password: str) -> str:
    """An Argon2id PHC string (salt and parameters included)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Constant-time check inside argon2; ``False`` for a wrong password or a broken hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_sha256(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_new_account(username: str, password: str, role: str) -> None:
    """Refuse names that would be confusing in the audit log, weak passwords, unknown roles."""
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-@" for c in username):
        raise OperatorError("username: 1–64 letters, digits or . _ - @")
    if role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"password: at least {MIN_PASSWORD_LENGTH} characters")


async def add_operator(
    store: DashboardStore,
    username: str,
    password: str,
    role: str,
    *,
    replace: bool = False,
    now: datetime | None = None,
) -> bool:
    """Create (or with ``replace`` reset) an account; ``False`` if it exists already."""
    check_new_account(username, password, role)
    return await store.add_operator(
        Operator(username, hash_password(password), role, now or datetime.now(UTC)),
        replace=replace,
    )


@dataclass
class LoginThrottle:
    """At most ``max_failures`` failed logins per key within ``window`` seconds."""

    max_failures: int = 5
    window: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            # keep the table from growing with every address ever seen
            del self._failures[key]
            return deque()
        return q

    def blocked(self, *keys: str, now: float | None = None) -> float:
        """Seconds until one more attempt is allowed for every key (0: allowed now)."""
        t = time.monotonic() if now is None else now
        wait = 0.0
        for key in keys:
            q = self._recent(key, t)
            if len(q) >= self.max_failures:
                wait = max(wait, q[0] + self.window - t)
        return wait

    def failed(self, *keys: str, now: float | None = None) -> None:
        """Record a failure for every key."""
        t = time.monotonic() if now is None else now
        for key in keys:
            self._failures.setdefault(key, deque()).append(t)

    def succeeded(self, username_key: str) -> None:
        """A successful login clears the username's failures (not the address's)."""
        self._failures.pop(username_key, None)


async def authenticate(store: DashboardStore, username: str, password: str) -> Operator | None:
    """The enabled account if the password matches; the same work is done either way.

    Argon2id costs tens of milliseconds of CPU and 64 MiB per call, for every attempt (an
    unknown user's too): it runs in :data:`_ARGON2`'s threads, never on the event loop that
    also takes agencies' packages. A hash made with older parameters is upgraded by a
    compare-and-set of the hash alone, so an account disabled, re-roled or reset while the
    new hash was being computed keeps that change (a reset's new hash is left in place; a
    role or disabled flag is never written here).
    """
    operator = await store.get_operator(username)
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(
        _ARGON2, verify_password, operator.password_hash if operator else _DUMMY_HASH, password
    )
    if not ok or operator is None or operator.disabled:
        return None
    if _HASHER.check_needs_rehash(operator.password_hash):
        new_hash = await loop.run_in_executor(_ARGON2, hash_password, password)
        await store.replace_password_hash(operator.username, operator.password_hash, new_hash)
    return operator


async def open_session(
    store: DashboardStore, operator: Operator, now: datetime | None = None
) -> tuple[str, Session]:
    """A new session: returns the cookie value (shown once) and the session."""
    at = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = at + SESSION_LIFETIME
    await store.create_session(token_sha256(token), operator.username, csrf, at, expires)
    return token, Session(operator.username, operator.role, csrf, expires)
