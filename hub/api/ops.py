"""Probes, metrics and the API description."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub import __version__
from hub.api.keys import RUNTIME
from hub.api.openapi import openapi_document
from hub.api.problems import problems_html
from hub.audit.expiry import update_alarms, watched_certificates
from hub.config import MetricsSettings
from hub.errors import PROBLEMS_PAGE, AuthForbidden, AuthRequired, HubError
from hub.metrics import PACKAGES_STORED

routes = web.RouteTableDef()
log = logging.getLogger("hub.api")


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok", "version": __version__})


#: How long ``/readyz`` waits for each of its store and broker calls (the pings and the
#: package count): a probe answers within a few of these, however the backends hang.
PROBE_SECONDS = 2.0


def _failure_code(exc: BaseException) -> str:
    """The stable code ``/readyz`` shows for a failed check: the error's own code
    (``hub.unavailable``), ``timeout``, or ``hub.error`` for anything unexpected."""
    if isinstance(exc, HubError):
        return exc.code
    if isinstance(exc, TimeoutError):
        return "timeout"
    return HubError.code


def _may_read_detail(request: web.Request, settings: MetricsSettings) -> bool:
    """Whether the caller may read the failures' texts: exactly who may read ``/metrics``."""
    try:
        check_metrics_access(request, settings)
    except (AuthRequired, AuthForbidden):
        return False
    return True


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Readiness: the store and the broker answer, and the receipt certificate is valid.

    Anyone (a load balancer) reads one status per check: ``ok``, or ``failed: <code>``. What
    failed, in words (the masked DSN or AMQP URL, hosts, the driver's message), is logged, and
    answered in ``detail`` only to the callers ``/metrics`` lets in (``[metrics]``)."""
    rt = request.app[RUNTIME]
    checks: dict[str, str] = {}
    detail: dict[str, str] = {}
    ok = True
    for name, probe in (("store", rt.store.ping), ("broker", rt.broker.ping)):
        try:
            async with asyncio.timeout(PROBE_SECONDS):  # not wait_for: see hub/dashboard/web.py
                await probe()
            checks[name] = "ok"
        except Exception as exc:
            code = _failure_code(exc)
            checks[name] = f"failed: {code}"
            detail[name] = f"{type(exc).__name__}: {exc}" if str(exc) else code
            log.warning("readiness: %s failed: %s", name, detail[name])
            ok = False
    now = rt.clock()
    cert = rt.signer.certificate
    if cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        days = (cert.not_valid_after_utc - now).days
        checks["receipt_certificate"] = f"ok, expires in {days} days"
    else:
        checks["receipt_certificate"] = "failed: not valid now"
        ok = False
    # Certificates expiring within the warning window raise an alarm (gauge and a warning
    # here) without making the hub unready: traffic must go on while someone renews them.
    expiring = update_alarms(
        watched_certificates(
            rt.config.settings.hub_id,
            rt.signer.certificates,
            rt.config.settings.trust_anchors,
        ),
        now,
        rt.audit_settings.expiry_warning_days,
    )
    if expiring:
        checks["certificates_expiring"] = f"warning: {len(expiring)} expiring"
        detail["certificates_expiring"] = "; ".join(
            f"{e.owner} {e.subject} in {e.days_left} days" for e in expiring
        )
    else:
        checks["certificates_expiring"] = "ok"
    if ok:
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                PACKAGES_STORED.set(await rt.store.count_packages())
        except Exception as exc:
            # The gauge only: the store answered its ping, so readiness stands; a slow count
            # must not hold the probe (a load balancer gives up and marks the hub down).
            log.warning(
                "readiness: counting the stored packages failed: %s: %s", type(exc).__name__, exc
            )
    body: dict[str, object] = {"status": "ready" if ok else "not ready", "checks": checks}
    if detail and _may_read_detail(request, rt.config.settings.metrics):
        body["detail"] = detail
    return web.json_response(body, status=200 if ok else 503)


def _peer_allowed(peer: str | None, allow: tuple[str, ...]) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False  # a Unix socket peer or something unexpected: not a network we know
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(n, strict=False) for n in allow)


def check_metrics_access(request: web.Request, settings: MetricsSettings) -> None:
    """``/metrics`` tells queue depths per agency and refusal counts: readable from the
    networks in ``[metrics] allow`` (loopback by default), else only with the bearer token of
    ``[metrics] token_file``."""
    if _peer_allowed(request.remote, settings.allow):
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if settings.token_file is None:
        raise AuthForbidden(
            f"/metrics is readable from {', '.join(settings.allow)} only "
            "(see [metrics] allow and token_file)"
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthRequired("/metrics: use 'Authorization: Bearer <metrics token>'")
    try:  # read per scrape: a rotated token file applies without a restart
        expected = settings.token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        log.warning("metrics token file unreadable: %s", exc)
        raise AuthForbidden("/metrics: the metrics token is not available") from None
    if not expected or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise AuthRequired("/metrics: wrong bearer token")


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition (to allowed networks or the metrics token holder)."""
    check_metrics_access(request, request.app[RUNTIME].config.settings.metrics)
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get(PROBLEMS_PAGE)
async def problems(request: web.Request) -> web.Response:
    """Every problem code with its status, title and meaning (the ``type`` URIs' target)."""
    return web.Response(text=problems_html(), content_type="text/html", charset="utf-8")


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this API."""
    return web.json_response(openapi_document())
