"""Access to the dashboard over plain HTTP: accounts, sessions, CSRF, roles, throttling,
audit, metrics and the ``hub operator`` command."""

from __future__ import annotations

import aiohttp
from click.testing import CliRunner

from hub.cli import main
from hub.config import load_config
from hub.operators import hash_password, verify_password
from hub.runtime import make_store
from hub.store.records import AuditEntry
from tests.conftest import WorkdirFactory
from tests.dashboard.conftest import G22, PASSWORDS, Dashboard, csrf_of


def test_passwords_are_argon2id() -> None:
    hashed = hash_password("mật khẩu dài đủ")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "mật khẩu dài đủ")
    assert not verify_password(hashed, "mat khau dai du")
    assert not verify_password("garbage", "x")


async def test_agency_token_never_opens_the_dashboard(dash: Dashboard) -> None:
    token = dash.hub.workdir.token(G22)
    async with aiohttp.ClientSession() as s:
        for path in ("/", "/packages", "/dead", "/api/snapshot"):
            async with s.get(
                dash.url + path,
                headers={"Authorization": f"Bearer {token}"},
                allow_redirects=False,
            ) as resp:
                assert resp.status == 303 and resp.headers["Location"] == "/dashboard/login"
        async with s.post(dash.url + "/dead", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 401
        async with s.get(dash.url + "/events") as resp:
            assert resp.status == 401


async def test_session_cookie_flags_csrf_and_logout(dash: Dashboard) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(dash.url + "/login") as resp:
            csrf = csrf_of(await resp.text())
        async with s.post(
            dash.url + "/login",
            data={"username": "ops", "password": PASSWORDS["ops"], "csrf": csrf},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
            cookie = resp.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert "Path=/dashboard" in cookie
    session = await dash.login("ops")
    try:
        async with session.get(dash.url + "/") as resp:
            page = await resp.text()
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        # a POST without the session's CSRF token is refused and audited
        async with session.post(dash.url + "/dead", data={"action": "resend"}) as resp:
            assert resp.status == 403
        async with session.post(
            dash.url + "/dead", data={"action": "resend", "csrf": "forged"}
        ) as resp:
            assert resp.status == 403
        async with session.post(
            dash.url + "/logout", data={"csrf": csrf_of(page)}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
        async with session.get(dash.url + "/", allow_redirects=False) as resp:
            assert resp.status == 303  # the session is gone from the store
    finally:
        await session.close()
    audit = await dash.hub.runtime.store.dashboard().audit()
    actions = [a.action for a in audit.rows if isinstance(a, AuditEntry)]
    assert "csrf.refused" in actions and "login" in actions and "logout" in actions


async def test_login_without_form_token_and_throttling(dash: Dashboard) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.post(
            dash.url + "/login", data={"username": "ops", "password": PASSWORDS["ops"]}
        ) as resp:
            assert resp.status == 403  # no double-submit token: login CSRF
        statuses = []
        for _ in range(7):
            async with s.get(dash.url + "/login") as resp:
                csrf = csrf_of(await resp.text())
            async with s.post(
                dash.url + "/login", data={"username": "ops", "password": "sai", "csrf": csrf}
            ) as resp:
                statuses.append(resp.status)
        assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
        async with s.get(dash.url + "/login") as resp:
            csrf = csrf_of(await resp.text())
        async with s.post(
            dash.url + "/login",
            data={"username": "ops", "password": PASSWORDS["ops"], "csrf": csrf},
        ) as resp:
            assert resp.status == 429  # even the right password waits
    audit = await dash.hub.runtime.store.dashboard().audit()
    actions = [a.action for a in audit.rows if isinstance(a, AuditEntry)]
    assert actions.count("login.failed") == 5 and "login.throttled" in actions


async def test_viewer_cannot_disable_an_agency(dash: Dashboard) -> None:
    viewer = await dash.login("viewer")
    ops = await dash.login("ops")
    try:
        async with viewer.get(dash.url + "/agencies") as resp:
            csrf = csrf_of(await resp.text())
        async with viewer.post(
            f"{dash.url}/agencies/{G22}/disable", data={"csrf": csrf, "reason": "x"}
        ) as resp:
            assert resp.status == 403
        assert dash.hub.runtime.registry.is_active(G22)
        async with ops.get(dash.url + "/agencies") as resp:
            page = await resp.text()
            csrf = csrf_of(page)
        # one click never disables: the table links to a confirm page, and a POST without
        # its confirmed=yes only leads back there
        assert f'href="/dashboard/agencies/{G22}/disable"' in page
        async with ops.post(
            f"{dash.url}/agencies/{G22}/disable",
            data={"csrf": csrf, "reason": "bảo trì hệ thống"},
        ) as resp:
            assert resp.status == 200 and str(resp.url).endswith(f"/agencies/{G22}/disable")
            assert 'name="confirmed" value="yes"' in await resp.text()
        assert dash.hub.runtime.registry.is_active(G22)
        async with ops.post(
            f"{dash.url}/agencies/{G22}/disable",
            data={"csrf": csrf, "reason": "bảo trì hệ thống", "confirmed": "yes"},
        ) as resp:
            assert resp.status == 200
            assert "Đã cập nhật cơ quan" in await resp.text()
        assert not dash.hub.runtime.registry.is_active(G22)
        async with ops.post(
            f"{dash.url}/agencies/{G22}/enable",
            data={"csrf": csrf, "reason": "xong", "confirmed": "yes"},
        ) as resp:
            assert resp.status == 200
        assert dash.hub.runtime.registry.is_active(G22)
    finally:
        await viewer.close()
        await ops.close()
    audit = await dash.hub.runtime.store.dashboard().audit()
    entries = [a for a in audit.rows if isinstance(a, AuditEntry)]
    disabled = next(a for a in entries if a.action == "agency.disable")
    assert disabled.username == "ops" and disabled.target == G22
    assert disabled.detail["reason"] == "bảo trì hệ thống"


async def test_metrics_cover_the_dashboard_figures(dash: Dashboard) -> None:
    async with aiohttp.ClientSession() as s, s.get(dash.hub.url + "/metrics") as resp:
        text = await resp.text()
    for name in (
        "hub_packages_accepted_total",
        "hub_packages_refused_total",
        "hub_delivery_latency_seconds_bucket",
        "hub_dead_letters",
        "hub_alarms_open",
        "hub_deliveries_total",
    ):
        assert name in text, name


def test_operator_add_command(make_workdir: WorkdirFactory) -> None:
    workdir = make_workdir()
    runner = CliRunner()
    args = ["operator", "add", "hoa.tran", "--config", str(workdir.config_dir), "--role"]
    result = runner.invoke(main, [*args, "operator", "--password-stdin"], input="ngắn\n")
    assert result.exit_code != 0 and "at least" in result.output
    result = runner.invoke(
        main, [*args, "operator", "--password-stdin"], input="một mật khẩu đủ dài\n"
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        main, [*args, "viewer", "--password-stdin"], input="một mật khẩu đủ dài\n"
    )
    assert result.exit_code != 0 and "exists" in result.output
    result = runner.invoke(main, ["operator", "list", "--config", str(workdir.config_dir)])
    assert "hoa.tran" in result.output

    import asyncio

    async def check() -> None:
        async with make_store(load_config(workdir.config_dir)) as store:
            op = await store.dashboard().get_operator("hoa.tran")
            assert op is not None and op.role == "operator"
            assert verify_password(op.password_hash, "một mật khẩu đủ dài")

    asyncio.run(check())
