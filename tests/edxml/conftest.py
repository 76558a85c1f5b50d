"""Shared fixtures: third-party samples are read in place from ``../shared/testdata``."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from hub.xmlsafe import parse_xml
from tests.conftest import installed, skip_or_fail

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TESTDATA = PROJECT_ROOT.parent / "shared" / "testdata"
EDXML_DIR = TESTDATA / "edxml"
DEFUSED_DIR = TESTDATA / "xmldsig" / "defusedxml-test-data"

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

# status sample file -> the StatusCode it carries (from the file name; status.edxml is 01)
STATUS_FILES = {
    "status.edxml": "01",
    "status_inbox__01.edxml": "01",
    "status_rejection_02.edxml": "02",
    "status_acceptance_03.edxml": "03",
    "status_assignment_04.edxml": "04",
    "status_processing_05.edxml": "05",
    "status_finish_06.edxml": "06",
    "status_cancellation_13.edxml": "13",
    "status_change-acceptance_15.edxml": "15",
    "status_change-rejection_16.edxml": "16",
}
DOCUMENT_FILES = ("edoc_update.edxml", "edoc_revocation.edxml")
WELL_FORMED = DOCUMENT_FILES + tuple(STATUS_FILES)

if not EDXML_DIR.is_dir():  # pragma: no cover - depends on the checkout layout
    skip_or_fail(f"shared test data not found at {TESTDATA}", allow_module_level=True)


def q(name: str) -> str:
    """Clark name in the edXML namespace."""
    return f"{{{NS}}}{name}"


def read(name: str) -> bytes:
    return (EDXML_DIR / name).read_bytes()


def load(name: str) -> etree._Element:
    return parse_xml(read(name))


def find(root: etree._Element, *path: str) -> etree._Element:
    """Walk direct children by local names (test helper; fails loudly when absent)."""
    el = root
    for name in path:
        found = el.find(q(name))
        assert found is not None, f"{name} not found under {el.tag}"
        el = found
    return el


HEADER_PATH = ("edXMLEnvelope", "edXMLHeader")
MESSAGE_HEADER_PATH = (*HEADER_PATH, "MessageHeader")


SDK_LIB = PROJECT_ROOT.parent / "shared" / "vxp-sdk" / "lib"
"""The national SDK's jars (EdXML102 and its dependencies), used in place, never copied."""
GENERATOR = Path(__file__).resolve().parent / "sdk" / "GenEdxml.java"


@pytest.fixture(scope="session")
def javac() -> str:
    """Path of ``javac`` (Debian package ``default-jdk-headless``), to run the real SDK.

    Missing: the test setup installs it, as for xmlsec1 (tests/conftest.py); if that fails the
    SDK tests skip with the reason printed, or fail under HUB_REQUIRE_SERVICES=1 (CI).
    """
    found = installed("javac", "default-jdk-headless")
    if found is None or shutil.which("java") is None:
        skip_or_fail("javac/java are not installed and could not be installed: SDK tests skipped")
    assert found is not None
    return found


@dataclass(frozen=True)
class SdkOutput:
    """Packages the real SDK wrote in one JVM run (``files[variant]``: ``<variant>.edxml``)."""

    directory: Path
    files: dict[str, Path]
    stderr: str


@pytest.fixture(scope="session")
def sdk_packages(javac: str, tmp_path_factory: pytest.TempPathFactory) -> SdkOutput:
    """Compile tests/edxml/sdk/GenEdxml.java against the SDK jars and run it once."""
    if not SDK_LIB.is_dir():
        skip_or_fail(f"the SDK jars are not at {SDK_LIB}")
    classpath = os.pathsep.join([str(SDK_LIB / "*")])
    base = tmp_path_factory.mktemp("sdk")
    classes, out = base / "classes", base / "out"
    compiled = subprocess.run(
        [javac, "-encoding", "UTF-8", "-d", str(classes), "-cp", classpath, str(GENERATOR)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert compiled.returncode == 0, compiled.stderr
    java = shutil.which("java")
    assert java is not None
    # The SDK formats dates in the JVM's default zone; edXML dates are Vietnamese time.
    jvm = [java, "-Duser.timezone=Asia/Ho_Chi_Minh", "-Dfile.encoding=UTF-8"]
    run = subprocess.run(
        [*jvm, "-cp", os.pathsep.join([str(classes), classpath]), "GenEdxml", str(out)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    files = {p.stem: p for p in sorted(out.glob("*.edxml"))}
    return SdkOutput(directory=out, files=files, stderr=run.stderr)
