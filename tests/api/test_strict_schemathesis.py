"""Schemathesis against the OpenAPI document (issue 13): a real hub on a loopback port, a
valid bearer token, every operation fuzzed with valid and invalid inputs (fixed seed, bounded
examples): no 5xx, and every answer conforms to the document (status, content type, body
schema, headers).

The fuzzing runs in a thread with schemathesis's own (blocking) client while the hub serves
on the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.api.openapi import openapi_document
from hub.demo.factory import Signer, document
from hub.edxml import Organ
from tests.api.conftest import RunningHub

pytestmark = pytest.mark.slow

G22, H41 = "000.00.00.G22", "000.00.00.H41"
#: examples per operation and generation mode (13 operations with input × 2 modes, 2,600
#: calls): about 35 s on this machine
EXAMPLES = 100
SEED = 20261205
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,  # invalid parameters are refused (4xx), never taken
]


@dataclass
class Findings:
    """What went wrong, per operation (the first failure of each kind)."""

    headers: dict[str, str]
    failures: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    per_operation: Counter[str] = field(default_factory=Counter)


def real_cases(schema: Any, ids: dict[str, str], fresh: bytes) -> list[tuple[Any, int]]:
    """Calls on real data (random ids only ever find 404s), with the status each must get:
    G22's sent and received packages, a paged inbox and outbox, a new package validated then
    submitted twice, an ack."""
    sent, received = ids["sent"], ids["received"]
    xml = "application/xml"
    cases = [
        (schema["/v1/inbox"]["GET"].Case(query={"limit": 1, "include_acked": "true"}), 200),
        (schema["/v1/outbox"]["GET"].Case(query={"limit": 1}), 200),
        (schema["/v1/validate"]["POST"].Case(body=fresh, media_type=xml), 200),
        (schema["/v1/packages"]["POST"].Case(body=fresh, media_type=xml), 202),
        (schema["/v1/packages"]["POST"].Case(body=fresh, media_type=xml), 200),  # a repeat
        (
            schema["/v1/packages/{package_id}/ack"]["POST"].Case(
                path_parameters={"package_id": received}
            ),
            200,
        ),
    ]
    for package_id in (sent, received):
        for path in ("", "/receipt", "/trace"):
            operation = schema[f"/v1/packages/{{package_id}}{path}"]["GET"]
            cases.append((operation.Case(path_parameters={"package_id": package_id}), 200))
    return cases


def fuzz_operation(operation: Any, mode: GenerationMode, base_url: str, findings: Findings) -> None:
    """``EXAMPLES`` generated calls of one operation in one mode, each validated."""
    headers = findings.headers

    @seed(SEED)  # the same examples on every run
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        findings.calls += 1
        findings.per_operation[f"{operation.label} [{mode.value}]"] += 1
        # the negative mode may drop or mangle the credentials; keep a valid token
        case.headers = {**(case.headers or {}), **headers}
        try:
            case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)
        except (Exception, FailureGroup) as exc:  # FailureGroup: a BaseExceptionGroup
            key = f"{operation.label} [{mode.value}]"
            findings.failures.setdefault(key, f"{type(exc).__name__}: {exc}"[:2000])

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid: no parameter, no body
        run()


def fuzz(base_url: str, token: str, ids: dict[str, str], fresh: bytes) -> Findings:
    schema = schemathesis.openapi.from_dict(openapi_document())
    findings = Findings(headers={"Authorization": f"Bearer {token}"})
    for case, expected in real_cases(schema, ids, fresh):
        findings.calls += 1
        key = f"{case.operation.label} (real data)"
        try:
            response = case.call_and_validate(
                base_url=base_url, headers=findings.headers, checks=CHECKS, timeout=30
            )
        except (Exception, FailureGroup) as exc:  # FailureGroup: a BaseExceptionGroup
            findings.failures.setdefault(key, f"{type(exc).__name__}: {exc}"[:2000])
            continue
        if response.status_code != expected:
            findings.failures[key] = f"status {response.status_code}, not {expected}"
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, base_url, findings)
    return findings


async def test_no_server_errors_and_no_schema_violations(
    hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    # Some traffic first, so that listings and packages have something to show.
    _, to_h41 = document(signers(G22), [Organ(organ_id=H41)], number=1)
    _, to_g22 = document(signers(H41), [Organ(organ_id=G22)], number=2)
    _, fresh = document(signers(G22), [Organ(organ_id=H41)], number=3)
    sent = await (await hub.client(G22)).submit(to_h41)
    received = await (await hub.client(H41)).submit(to_g22)
    await (await hub.client(H41)).ack(sent.package_id)
    ids = {"sent": sent.package_id, "received": received.package_id}
    findings = await asyncio.to_thread(fuzz, hub.url, hub.workdir.token(G22), ids, fresh)
    assert findings.calls > 0
    assert not findings.failures, "\n\n".join(f"{k}: {v}" for k, v in findings.failures.items())
    # every operation that takes input was fuzzed in both modes
    assert sum(1 for n in findings.per_operation.values() if n == EXAMPLES) >= 22
    print(f"\nschemathesis: {findings.calls} calls, no failures")
