"""Both catalogues (vi, en) name every identifier a page can show: refusal codes
(hub/errors.py and the specific codes raised with ``code=``), warning codes, delivery states,
package kinds, every event kind the store can hold, alarm kinds, audit actions; and numbers
and dates come out in the Vietnamese form."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import hub.errors
from hub.admin import AGENCY_EVENTS
from hub.dashboard.i18n import LANGUAGES, has, messages, number, percent, when
from hub.lifecycle.alarms import KINDS as ALARM_KINDS
from hub.lifecycle.engine import CHANGE_EVENTS
from hub.models import DeliveryState, PackageKind
from hub.warning_codes import WARNINGS

HUB = Path(hub.errors.__file__).parent


def error_codes() -> set[str]:
    """Every HubError subclass's code, plus every ``code="…"`` written anywhere in the hub."""
    found: set[str] = set()
    todo: list[type[hub.errors.HubError]] = [hub.errors.HubError]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo.extend(cls.__subclasses__())
    for path in HUB.rglob("*.py"):
        found |= set(re.findall(r'\bcode\s*=\s*"([a-z]+\.[a-z_]+)"', path.read_text("utf-8")))
    found |= set(
        re.findall(r'"(signature\.[a-z_]+)"', (HUB / "pipeline" / "checks.py").read_text())
    )
    return found


def event_kinds() -> set[str]:
    """Every event kind the hub writes: the literal ``kind=`` of each ``Event(...)`` call, the
    delivery states (``set_delivery_state`` writes the state as the kind), the lifecycle's
    changes and the agency changes of :mod:`hub.admin`."""
    found = {s.value for s in DeliveryState} | set(CHANGE_EVENTS.values()) | set(AGENCY_EVENTS)
    # hub vxp's changes pass their kind through a variable
    found |= {"vxp_system_added", "vxp_system_enabled", "vxp_system_disabled", "vxp_secret_rotated"}
    for path in HUB.rglob("*.py"):
        text = path.read_text("utf-8")
        for call in re.finditer(r"\bEvent\(", text):
            kind = re.search(r"kind=([^,\n]+)", text[call.end() : call.end() + 400])
            if kind:
                found |= set(re.findall(r'"([a-z_.]+)"', kind.group(1)))
    return found


def test_every_code_has_a_translation_in_both_catalogues() -> None:
    errors, events = error_codes(), event_kinds()
    # the discovery itself finds what it must (a broken regex would pass vacuously)
    assert {"lifecycle.not_party", "xml.not_well_formed", "pdf.required"} <= errors
    assert {"accepted", "represented", "package.read", "purged", "agency.token_rotated"} <= events
    wanted = (
        [f"error:{c}" for c in errors]
        + [f"warning:{c}" for c in WARNINGS]
        + [f"state:{s.value}" for s in DeliveryState]
        + [f"kind:{k.value}" for k in PackageKind]
        + [f"event:{k}" for k in events]
        + [f"alarm:{k}" for k in ALARM_KINDS]
        + [f"role:{r}" for r in ("viewer", "operator")]
        + [
            f"action:{a}"
            for a in (
                "login",
                "login.failed",
                "login.throttled",
                "logout",
                "csrf.refused",
                "dead.resend",
                "dead.discard",
                "agency.disable",
                "agency.enable",
                "agency.set_profile",
                "agency.rotate_token",
                "operator.add",
                "evidence.export",
                "keys.rotate",
                "storage.rekey",
                "directory.import",
                "vxp.add_system",
                "vxp.enable",
                "vxp.disable",
                "vxp.rotate",
                "download.original",
                "download.receipt",
            )
        ]
    )
    for lang in LANGUAGES:
        missing = sorted(k for k in wanted if not has(lang, k))
        assert not missing, f"{lang}: {missing}"


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    vi, en = messages("vi"), messages("en")
    assert set(vi) == set(en)
    for key in vi:
        assert set(re.findall(r"{(\w+)}", vi[key])) == set(re.findall(r"{(\w+)}", en[key])), key


def test_plain_vietnamese_terms() -> None:
    vi = messages("vi")
    assert vi["dead"] == "Chuyển phát thất bại"  # not "Thư chết" (docs/dashboard.md says why)
    assert "Thư chết" not in vi.values()
    assert vi["what"] != vi["alarm_kind"]  # "Thao tác" no longer heads a type column


def test_vietnamese_numbers_and_dates() -> None:
    assert number("vi", 1234.5) == "1.234,5" and number("en", 1234.5) == "1,234.5"
    assert percent("vi", 0.015) == "1,5 %"
    at = datetime(2026, 12, 5, 2, 30, tzinfo=UTC)  # 09:30 in Hà Nội
    assert when(at, "vi") == "05/12/2026 09:30"
    assert when(at, "en") == "5 Dec 2026 09:30"
