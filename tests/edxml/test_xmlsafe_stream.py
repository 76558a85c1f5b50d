"""``parse_xml_stream``: the same checks and refusals as ``parse_xml``, for a document read in
chunks (large packages reach the check worker as a file; issue 10)."""

from __future__ import annotations

import io

import pytest
from lxml import etree

from hub.errors import (
    HubError,
    PackageTooLarge,
    XmlDtdForbidden,
    XmlEncodingForbidden,
    XmlNotWellFormed,
    XmlTooDeep,
)
from hub.xmlsafe import parse_xml, parse_xml_stream

from .conftest import DEFUSED_DIR, WELL_FORMED, read

CHUNK = 16 * 1024  # hub.xmlsafe._CHUNK: the cases below straddle its boundaries


def stream(data: bytes, **kwargs: int) -> etree._Element:
    return parse_xml_stream(io.BytesIO(data).read, **kwargs)


@pytest.mark.parametrize("name", WELL_FORMED)
def test_samples_parse_to_the_same_tree(name: str) -> None:
    data = read(name)
    assert etree.tostring(stream(data)) == etree.tostring(parse_xml(data))


def _pad(n: int) -> bytes:
    return b" " * n


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', XmlDtdForbidden),
        # a DOCTYPE after a prolog longer than one chunk, and one cut by a chunk boundary
        (b"<!--" + b"x" * (3 * CHUNK) + b"-->\n<!DOCTYPE a><a/>", XmlDtdForbidden),
        (_pad(CHUNK - 4) + b"<!DOCTYPE a><a/>", XmlDtdForbidden),
        # an encoding declared after a chunk's worth of whitespace inside the declaration
        (
            b'<?xml version="1.0"' + _pad(CHUNK) + b'encoding="ISO-8859-1"?><a/>',
            XmlEncodingForbidden,
        ),
        ("<a/>".encode("utf-16"), XmlEncodingForbidden),
        # a processing instruction after the root, and one whose "<?" straddles two chunks
        (b"<a>" + b"x" * (2 * CHUNK) + b"<?x?></a>", XmlDtdForbidden),
        (b"<a>" + b"x" * (CHUNK - 3 - 1) + b"<?x?></a>", XmlDtdForbidden),
        (b"<a>" * 100 + b"</a>" * 100, XmlTooDeep),
        (b"<a>" + b"x" * (2 * CHUNK) + b"</b>", XmlNotWellFormed),
    ],
)
def test_refusals_match_parse_xml(data: bytes, error: type[HubError]) -> None:
    with pytest.raises(error):
        parse_xml(data)
    with pytest.raises(error):
        stream(data)


def test_defusedxml_vectors_refused() -> None:
    for path in DEFUSED_DIR.iterdir():
        if b"<!DOCTYPE" in path.read_bytes():
            with pytest.raises(XmlDtdForbidden):
                stream(path.read_bytes())


def test_size_checked_while_reading() -> None:
    data = b"<a>" + b"x" * (3 * CHUNK) + b"</a>"
    with pytest.raises(PackageTooLarge):
        stream(data, max_size=2 * CHUNK)
    assert stream(data, max_size=len(data)).text == "x" * (3 * CHUNK)


def test_long_prolog_and_cdata_pi_text_accepted() -> None:
    data = (
        b"<!--" + b"c" * (3 * CHUNK) + b'-->\n<?xml-stylesheet href="s"?><a><![CDATA[<?y?>]]></a>'
    )
    assert stream(data).text == "<?y?>"
    assert stream(b"\xef\xbb\xbf<a/>").tag == "a"
