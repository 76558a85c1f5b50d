"""What an upgrade in place must keep, observed from outside a running hub over HTTP only.

The same code runs on both sides of an upgrade: ``make_fixtures.py`` runs it against the
previous release's hub and stores the answer as the fixture's manifest; the upgrade tests run it
against the new hub started on the restored data and compare (:func:`differences`). It imports
nothing from ``hub``, so both releases run it unchanged, and it only reads what agencies,
operators and VXP systems see: the public API is the contract an upgrade must keep, whatever
the store's tables look like inside.

Reading never changes state: a package's bytes are fetched as its sender, or as a recipient
whose delivery is already past ``available`` (a recipient's first fetch would move it to
``delivered``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

#: Dashboard accounts the fixtures create (dev-only passwords, written in the README too).
OPERATORS: dict[str, tuple[str, str]] = {
    "lan.nguyen": ("operator", "Mật-khẩu-thử-nghiệm-1"),
    "minh.tran": ("viewer", "Mật-khẩu-thử-nghiệm-2"),
}

#: How a delivery may have moved on while the new hub started (the crash-safe work a stopped
#: hub leaves behind is finished by the next one); anything else is a loss.
MAY_BECOME: dict[str, frozenset[str]] = {
    "pending": frozenset({"pending", "queued", "available", "delivered"}),
    "queued": frozenset({"queued", "available", "delivered"}),
    "failed": frozenset({"failed", "dead", "delivered"}),
    "available": frozenset({"available"}),
    "delivered": frozenset({"delivered"}),
    "acked": frozenset({"acked"}),
    "dead": frozenset({"dead"}),
}

#: States in which a delivery may change without leaving the state (a failed push retried
#: and failed again: one more attempt, a new error).
STILL_MOVING = frozenset({"pending", "queued", "failed"})

#: The trace fields of a delivery that only stay put while its state does.
MOVING_DELIVERY_FIELDS = frozenset({"state", "attempts", "updated_at", "last_error"})

PAGE = 1000
PARALLEL = 8


@dataclass(frozen=True, slots=True)
class Credentials:
    """Everything needed to look at a hub as its agencies, systems and operators do, read
    from a working directory laid out as ``hub demo`` makes it (``pki/agencies/<OrganId>/``:
    ``token``, ``token.revoked`` for a rotated one, ``vxp.toml``)."""

    tokens: Mapping[str, str]  # "<OrganId>/<file name>" → bearer token
    vxp: Mapping[str, str]  # system id → secret

    @classmethod
    def from_workdir(cls, root: Path) -> Credentials:
        """Read every agency's token files and VXP credentials under ``root/pki/agencies``."""
        tokens: dict[str, str] = {}
        vxp: dict[str, str] = {}
        for agency in sorted((root / "pki" / "agencies").iterdir()):
            for name in ("token", "token.revoked"):
                path = agency / name
                if path.is_file():
                    tokens[f"{agency.name}/{name}"] = path.read_text(encoding="utf-8").strip()
            path = agency / "vxp.toml"
            if path.is_file():
                doc = tomllib.loads(path.read_text(encoding="utf-8"))
                vxp[str(doc["system_id"])] = str(doc["secret"])
        return cls(tokens=tokens, vxp=vxp)

    def token(self, organ_id: str) -> str:
        """The agency's current token."""
        return self.tokens[f"{organ_id}/token"]


class Observer:
    """One look at a hub: :meth:`observe` returns a JSON-able dict."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, creds: Credentials) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self.creds = creds
        self._gate = asyncio.Semaphore(PARALLEL)

    async def _get(self, path: str, organ_id: str) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.creds.token(organ_id)}"}
        async with self._gate, self.http.get(self.base + path, headers=headers) as r:
            return r.status, await r.read()

    async def _json(self, path: str, organ_id: str) -> Any:
        status, body = await self._get(path, organ_id)
        if status != 200:
            raise AssertionError(f"GET {path} as {organ_id}: {status} {body[:300]!r}")
        return json.loads(body)

    async def _pages(self, path: str, organ_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        sep = "&" if "?" in path else "?"
        while True:
            url = f"{path}{sep}limit={PAGE}" + (f"&cursor={quote(cursor)}" if cursor else "")
            page = await self._json(url, organ_id)
            items += page["items"]
            cursor = page.get("next")
            if not cursor:
                return items

    async def token_answers(self) -> dict[str, int]:
        """The HTTP status each token file gets on ``GET /v1/inbox`` (200, or 401/403 for a
        revoked token or a disabled agency)."""

        async def one(name: str, token: str) -> tuple[str, int]:
            headers = {"Authorization": f"Bearer {token}"}
            async with (
                self._gate,
                self.http.get(f"{self.base}/v1/inbox?limit=1", headers=headers) as r,
            ):
                return name, r.status

        return dict(await asyncio.gather(*(one(n, t) for n, t in self.creds.tokens.items())))

    async def observe(self) -> dict[str, Any]:
        """Tokens, directory, every package (trace, bytes, receipt), dossiers, VXP systems
        and operator logins, as the hub answers them now."""
        tokens = await self.token_answers()
        active = sorted(
            n.split("/")[0] for n, s in tokens.items() if s == 200 and "revoked" not in n
        )
        if not active:
            raise AssertionError(f"no agency token works: {tokens}")
        packages = await self.packages(active)
        return {
            "tokens": tokens,
            "directory": await self._pages("/v1/agencies", active[0]),
            "packages": packages,
            "dossiers": await self.dossiers(packages, active),
            "vxp": await self.vxp_answers(),
            "operators": await self.operator_logins(),
        }

    async def listed(self, active: Iterable[str]) -> dict[str, dict[str, str]]:
        """Every package id any working agency lists (outbox, inbox with acked ones): for
        each, who may read it without changing anything (``organ`` → why)."""
        readers: dict[str, dict[str, str]] = {}

        async def one(organ_id: str) -> None:
            for item in await self._pages("/v1/outbox", organ_id):
                readers.setdefault(item["id"], {})[organ_id] = "sender"
            for item in await self._pages("/v1/inbox?include_acked=true", organ_id):
                readers.setdefault(item["id"], {}).setdefault(organ_id, item["state"])

        await asyncio.gather(*(one(o) for o in active))
        return readers

    async def packages(self, active: list[str]) -> dict[str, dict[str, Any]]:
        """Each package's trace, the SHA-256 of its bytes and of its receipt, by id."""
        readers = await self.listed(active)
        out: dict[str, dict[str, Any]] = {}

        async def one(package_id: str, who: dict[str, str]) -> None:
            reader = next(
                (o for o, why in sorted(who.items()) if why in ("sender", "delivered", "acked")),
                None,
            )
            if reader is None:
                raise AssertionError(
                    f"package {package_id}: nobody can read it without changing it ({who})"
                )
            trace = await self._json(f"/v1/packages/{package_id}/trace", reader)
            status, data = await self._get(f"/v1/packages/{package_id}", reader)
            if status != 200:
                raise AssertionError(f"fetch {package_id} as {reader}: {status}")
            status, receipt = await self._get(f"/v1/packages/{package_id}/receipt", reader)
            if status != 200:
                raise AssertionError(f"receipt {package_id} as {reader}: {status}")
            trace["bytes_sha256"] = hashlib.sha256(data).hexdigest()
            trace["receipt_sha256"] = hashlib.sha256(receipt).hexdigest()
            out[package_id] = trace

        await asyncio.gather(*(one(p, w) for p, w in readers.items()))
        return dict(sorted(out.items()))

    async def dossiers(
        self, packages: Mapping[str, Mapping[str, Any]], active: list[str]
    ) -> dict[str, Any]:
        """Each dossier the packages name, as its submitter or handling agency sees it."""
        found: dict[str, set[str]] = {}
        for trace in packages.values():
            dossier = trace.get("lifecycle", {}).get("dossier")
            if dossier:
                parties = found.setdefault(dossier["ma_ho_so"], set())
                parties.update({trace["from"], dossier["agency"]})
        out: dict[str, Any] = {}

        async def one(ma_ho_so: str, parties: set[str]) -> None:
            for organ_id in sorted(parties & set(active)):
                status, body = await self._get(f"/v1/dossiers/{quote(ma_ho_so, safe='')}", organ_id)
                if status == 200:
                    out[ma_ho_so] = json.loads(body)
                    return
            raise AssertionError(f"dossier {ma_ho_so}: none of {parties} may read it")

        await asyncio.gather(*(one(m, p) for m, p in found.items()))
        return dict(sorted(out.items()))

    async def vxp_answers(self) -> dict[str, dict[str, Any]]:
        """What each VXP system gets for ``getAgenciesList`` (authentication, enabled)."""
        out: dict[str, dict[str, Any]] = {}
        for system_id, secret in sorted(self.creds.vxp.items()):
            async with (
                self._gate,
                self.http.post(
                    f"{self.base}/vxp/getAgenciesList",
                    headers=vxp_headers(system_id, secret),
                    data=b"{}",
                ) as r,
            ):
                body = json.loads(await r.read())
            out[system_id] = {
                "http": r.status,
                "status": body.get("status"),
                "ErrorCode": body.get("ErrorCode"),
            }
        return out

    async def operator_logins(self) -> dict[str, int]:
        """The dashboard's answer to each fixture operator's login (303: signed in)."""
        out: dict[str, int] = {}
        for username, (_role, password) in sorted(OPERATORS.items()):
            jar = aiohttp.CookieJar(unsafe=True)  # the hub is on 127.0.0.1
            async with aiohttp.ClientSession(cookie_jar=jar) as browser:
                async with browser.get(f"{self.base}/dashboard/login") as r:
                    await r.read()
                csrf = next((c.value for c in jar if c.key == "hub_login_csrf"), "")
                form = {"csrf": csrf, "username": username, "password": password}
                async with browser.post(
                    f"{self.base}/dashboard/login", data=form, allow_redirects=False
                ) as r:
                    out[username] = r.status
        return out


def vxp_headers(system_id: str, secret: str) -> dict[str, str]:
    """The headers the national axis SDK sends: its HMAC-SHA256 over the JSON sign-header."""
    fields = {"systemid": system_id, "timestamp": "05122026T031120+0700"}
    obj = {f"XroadVnpt-{k}": v for k, v in fields.items()}
    sign_header = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    mac = hmac.new(secret.encode(), sign_header.encode(), hashlib.sha256).hexdigest()
    return {
        **obj,
        "Content-Type": "application/json",
        "XroadVnpt-sign-header-key": ";".join(fields),
        "XroadVnpt-sign-header": sign_header,
        "XroadVnpt-hash-header": mac,
    }


async def observe(base_url: str, workdir: Path) -> dict[str, Any]:
    """Look at the hub at ``base_url`` with the credentials of ``workdir``."""
    async with aiohttp.ClientSession() as http:
        return await Observer(http, base_url, Credentials.from_workdir(workdir)).observe()


# -- comparing an old observation with a new one ----------------------------------------------


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Everything the old observation holds that the new one lost or changed.

    The new hub may answer with more (fields added to a JSON, packages submitted since,
    events appended, deliveries moved on as :data:`MAY_BECOME` allows); it may not answer
    with less or differently.
    """
    problems: list[str] = []
    for section in ("tokens", "vxp", "operators", "dossiers"):
        problems += kept(old[section], new[section], section)
    problems += kept_directory(old["directory"], new["directory"])
    for package_id, was in old["packages"].items():
        now = new["packages"].get(package_id)
        if now is None:
            problems.append(f"package {package_id} ({was['kind']} from {was['from']}) is gone")
            continue
        problems += kept_package(was, now, f"package {package_id}")
    return problems


def kept(old: Any, new: Any, where: str) -> list[str]:
    """Whether ``new`` holds ``old``: dict keys of ``old`` with kept values (more keys are
    fine), lists of the same length with kept items, other values equal."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{where}: was an object, now {new!r}"]
        out: list[str] = []
        for key, value in old.items():
            if key not in new:
                out.append(f"{where}.{key}: missing (was {value!r})")
            else:
                out += kept(value, new[key], f"{where}.{key}")
        return out
    if isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            return [f"{where}: was {old!r}, now {new!r}"]
        return [
            p
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for p in kept(a, b, f"{where}[{i}]")
        ]
    return [] if old == new else [f"{where}: was {old!r}, now {new!r}"]


def kept_directory(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    """Every directory entry kept, by code."""
    by_code = {e["code"]: e for e in new}
    out: list[str] = []
    for entry in old:
        now = by_code.get(entry["code"])
        if now is None:
            out.append(f"directory: {entry['code']} ({entry['name']}) is gone")
        else:
            out += kept(entry, now, f"directory {entry['code']}")
    return out


def kept_package(was: Mapping[str, Any], now: Mapping[str, Any], where: str) -> list[str]:
    """A package's trace: everything kept, except that deliveries may move on
    (:data:`MAY_BECOME`) and events may be appended."""
    out: list[str] = []
    plain = {k: v for k, v in was.items() if k not in ("recipients", "events")}
    out += kept(plain, now, where)
    deliveries = {d["organ_id"]: d for d in now.get("recipients", [])}
    for d in was["recipients"]:
        here = f"{where} → {d['organ_id']}"
        current = deliveries.get(d["organ_id"])
        if current is None:
            out.append(f"{here}: the delivery is gone (was {d['state']})")
            continue
        if current["state"] not in MAY_BECOME.get(d["state"], frozenset({d["state"]})):
            out.append(f"{here}: was {d['state']}, now {current['state']}")
        if current["state"] == d["state"] and d["state"] not in STILL_MOVING:
            out += kept(d, current, here)
        else:
            fixed = {k: v for k, v in d.items() if k not in MOVING_DELIVERY_FIELDS}
            out += kept(fixed, current, here)
            if current.get("attempts", 0) < d.get("attempts", 0):
                out.append(f"{here}: attempts went back from {d['attempts']}")
    remaining = list(now.get("events", []))
    for event in was["events"]:
        match = next((e for e in remaining if not kept(event, e, "")), None)
        if match is None:
            out.append(f"{where}: event lost or changed: {json.dumps(event, ensure_ascii=False)}")
        else:
            remaining.remove(match)
    return out
