"""Shared fixtures: a hub working directory (dev PKI, registry, config) and a running hub.

Services: tests marked ``services`` need RabbitMQ or PostgreSQL. Without the server they skip
with the reason printed, unless ``HUB_REQUIRE_SERVICES=1`` (CI), where they must run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from hub.demo.factory import Signer
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec, Workdir, create_workdir
from signing.pki import load_certificates, load_private_key

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TESTDATA = PROJECT_ROOT.parent / "shared" / "testdata"
REQUIRE_SERVICES = os.environ.get("HUB_REQUIRE_SERVICES") == "1"


def shared_testdata(*parts: str) -> Path:
    """A file from ``../shared/testdata`` (never copied into the project)."""
    return TESTDATA.joinpath(*parts)


@pytest.fixture(scope="session")
def pki_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One dev PKI for the whole session (RSA key generation is the slow part)."""
    root = tmp_path_factory.mktemp("pki-template")
    create_workdir(root, DEFAULT_AGENCIES)
    return root / "pki"


@dataclass
class WorkdirFactory:
    """Makes fresh working directories that share the session's PKI."""

    pki_template: Path
    base: Path
    counter: int = 0

    def __call__(
        self, agencies: tuple[AgencySpec, ...] = DEFAULT_AGENCIES, **kw: object
    ) -> Workdir:
        self.counter += 1
        root = self.base / f"w{self.counter}"
        shutil.copytree(self.pki_template, root / "pki")
        kw.setdefault("ingest_processes", -1)
        return create_workdir(root, agencies, **kw)  # type: ignore[arg-type]


@pytest.fixture
def make_workdir(pki_template: Path, tmp_path: Path) -> WorkdirFactory:
    """``make_workdir(agencies, **create_workdir options)``"""
    return WorkdirFactory(pki_template, tmp_path)


@pytest.fixture
def workdir(make_workdir: WorkdirFactory) -> Workdir:
    """A fresh working directory with the default agencies, verification inline."""
    return make_workdir()


def signer_for(workdir: Workdir, organ_id: str) -> Signer:
    """The agency's signing identity from the working directory."""
    issued = workdir.agencies[organ_id]
    spec = {a.organ_id: a for a in DEFAULT_AGENCIES}.get(organ_id)
    return Signer(
        organ_id=organ_id,
        name=spec.name if spec else organ_id,
        key=load_private_key(issued.key_path),  # type: ignore[arg-type]
        certificate=load_certificates(issued.cert_path)[0],
    )


@pytest.fixture
def signers(workdir: Workdir) -> Callable[[str], Signer]:
    """``signers(organ_id)`` → that agency's Signer."""
    cache: dict[str, Signer] = {}

    def get(organ_id: str) -> Signer:
        if organ_id not in cache:
            cache[organ_id] = signer_for(workdir, organ_id)
        return cache[organ_id]

    return get


def skip_or_fail(reason: str, *, allow_module_level: bool = False) -> NoReturn:
    """The one rule for whatever a test needs and may not find (a server, a tool, the shared
    test data): skip with the reason printed, or fail under HUB_REQUIRE_SERVICES=1 (CI), where
    every test must run."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (HUB_REQUIRE_SERVICES=1)")
    print(f"SKIP: {reason}")
    pytest.skip(reason, allow_module_level=allow_module_level)


def service_available(host: str, port: int) -> bool:
    """Whether something listens there (asked twice, 5 s each: a busy machine may accept
    slowly, and a slow accept must not pass for a missing server)."""
    import socket

    for _ in range(2):
        try:
            with socket.create_connection((host, port), timeout=5.0):
                return True
        except ConnectionRefusedError:
            return False  # nothing listens: asking again would not change that
        except OSError:
            continue
    return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (printing why) or, under HUB_REQUIRE_SERVICES=1, fail when a server is missing."""
    if not service_available(host, port):
        skip_or_fail(f"{name} is not reachable at {host}:{port}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"testdata: {TESTDATA} ({'found' if TESTDATA.exists() else 'MISSING'})",
        f"HUB_REQUIRE_SERVICES={'1' if REQUIRE_SERVICES else '0'}",
    ]


def installed(command: str, package: str) -> str | None:
    """Path of ``command``; when it is missing and the tests run as root where apt-get is,
    the Debian ``package`` is installed first (after an ``apt-get update`` if that fails)."""
    import subprocess

    found = shutil.which(command)
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", package]
        if subprocess.run(install, check=False, capture_output=True, env=env).returncode:
            subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True, env=env)
            subprocess.run(install, check=False, capture_output=True, env=env)
        found = shutil.which(command)
    return found


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """Path of xmlsec1 (an independent XMLDSig implementation, Debian package ``xmlsec1``).

    Missing: the test setup installs it; if that fails the interop tests skip with the reason
    printed, or fail under HUB_REQUIRE_SERVICES=1 (CI), where they must run.
    """
    return require_tool("xmlsec1", "xmlsec1", "interop tests skipped")


def require_tool(command: str, package: str, consequence: str = "tests skipped") -> str:
    """Path of ``command``, installed from the Debian ``package`` when missing (see
    :func:`installed`); otherwise :func:`skip_or_fail`."""
    found = installed(command, package)
    if found is None:
        skip_or_fail(f"{command} is not installed and could not be installed: {consequence}")
    return found


@pytest.fixture(scope="session")
def openssl() -> str:
    """Path of the ``openssl`` command (the test CRL/OCSP/TSA material and responders use it);
    a module that needs it says ``pytestmark = pytest.mark.usefixtures("openssl")``."""
    return require_tool("openssl", "openssl", "revocation and time-stamp tests skipped")
