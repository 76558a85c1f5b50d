"""Safe parsing: size, DTDs and entities, encoding, well-formedness, processing instructions."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from lxml import etree

from hub.errors import (
    PackageTooLarge,
    XmlDtdForbidden,
    XmlEncodingForbidden,
    XmlNotWellFormed,
    XmlTooDeep,
)
from hub.xmlsafe import DEFAULT_MAX_DEPTH, DEFAULT_MAX_SIZE, check_size, parse_xml

from .conftest import DEFUSED_DIR, WELL_FORMED, read

ATTACKS = sorted(p.name for p in DEFUSED_DIR.iterdir() if b"<!DOCTYPE" in p.read_bytes())


@pytest.mark.parametrize("name", WELL_FORMED)
def test_every_well_formed_sample_parses(name: str) -> None:
    root = parse_xml(read(name))
    assert root.tag == "{http://www.mic.gov.vn/TBT/QCVN_102_2016}edXML"


def test_leading_garbage_refused_with_position() -> None:
    with pytest.raises(XmlNotWellFormed) as info:
        parse_xml(read("malformed_leading_garbage.edxml"))
    assert (info.value.line, info.value.column) == (1, 1)
    assert "Start tag expected" in info.value.detail
    assert info.value.to_problem()["line"] == 1


def test_undeclared_prefix_refused_with_position() -> None:
    with pytest.raises(XmlNotWellFormed) as info:
        parse_xml(read("malformed_undeclared_prefix.edxml"))
    assert (info.value.line, info.value.column) == (116, 39)
    assert "xlink" in info.value.detail


def test_attack_vectors_are_present() -> None:
    # billion laughs, quadratic blow-up, external entity, external DTD, cyclic
    assert {"xmlbomb.xml", "quadratic.xml", "external.xml", "dtd.xml"} <= set(ATTACKS)


@pytest.mark.parametrize("name", ATTACKS)
def test_defusedxml_vectors_refused_before_parsing(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("the parser must not see a DOCTYPE")

    monkeypatch.setattr(etree, "fromstring", boom)
    monkeypatch.setattr(etree, "XMLPullParser", boom)
    with pytest.raises(XmlDtdForbidden):
        parse_xml((DEFUSED_DIR / name).read_bytes())


@pytest.mark.parametrize("name", ["simple.xml", "simple-ns.xml"])
def test_defusedxml_controls_parse(name: str) -> None:
    root = parse_xml((DEFUSED_DIR / name).read_bytes())
    assert root.tag.endswith("root")


@pytest.mark.parametrize(
    "data",
    [
        b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
        b'<?xml version="1.0"?>\n<!-- c -->\n<?pi x?>\n<!DOCTYPE a SYSTEM "http://x/a.dtd"><a/>',
        b"\xef\xbb\xbf<!doctype a><a/>",
    ],
)
def test_doctype_anywhere_in_the_prolog_is_refused(data: bytes) -> None:
    with pytest.raises(XmlDtdForbidden):
        parse_xml(data)


def test_doctype_inside_a_comment_is_just_a_comment() -> None:
    assert parse_xml(b"<!-- <!DOCTYPE a> --><a/>").tag == "a"


def test_size_limit_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.xmlsafe as xmlsafe

    monkeypatch.setattr(xmlsafe, "_scan_prolog", lambda _d: pytest.fail("scanned"))
    with pytest.raises(PackageTooLarge):
        parse_xml(b"<a>" + b"x" * 100 + b"</a>", max_size=50)
    with pytest.raises(PackageTooLarge):
        parse_xml(b"<!DOCTYPE a><a/>", max_size=5)  # size wins over DOCTYPE


def test_check_size() -> None:
    check_size(None, 10)
    check_size(10, 10)
    with pytest.raises(PackageTooLarge) as info:
        check_size(DEFAULT_MAX_SIZE + 1, DEFAULT_MAX_SIZE)
    assert info.value.status == 413


def test_one_text_node_may_use_the_whole_package_limit() -> None:
    # libxml2 caps a text node at 10 MB without huge_tree; one attachment may be larger.
    text = b"A" * 15_000_000
    root = parse_xml(b"<a><b>" + text + b"</b></a>", max_size=16_000_000)
    assert root[0].text is not None and len(root[0].text) == len(text)


def test_depth_bomb_refused_while_parsing() -> None:
    # Deeper than libxml2's own limit (2048 with huge_tree): the hub's limit refuses it first.
    bomb = b"<a>" * 100_000 + b"</a>" * 100_000
    with pytest.raises(XmlTooDeep) as info:
        parse_xml(bomb)
    assert info.value.code == "xml.too_deep" and info.value.status == 400
    assert info.value.extra["max_depth"] == DEFAULT_MAX_DEPTH


def test_depth_limit_is_exact_and_configurable() -> None:
    def nested(depth: int) -> bytes:
        return b"<a>" * depth + b"</a>" * depth

    assert parse_xml(nested(DEFAULT_MAX_DEPTH)).tag == "a"
    with pytest.raises(XmlTooDeep):
        parse_xml(nested(DEFAULT_MAX_DEPTH + 1))
    # Depth counts nesting, not elements: siblings are fine.
    assert len(parse_xml(b"<r>" + b"<a><b/></a>" * 50_000 + b"</r>")) == 50_000
    assert parse_xml(nested(5), max_depth=5).tag == "a"
    with pytest.raises(XmlTooDeep):
        parse_xml(nested(6), max_depth=5)
    # A limit above libxml2's own (2048 with huge_tree) still refuses with the same code.
    with pytest.raises(XmlTooDeep):
        parse_xml(nested(3000), max_depth=5000)


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0" encoding="ISO-8859-1"?><a/>',
        b"<?xml version='1.0' encoding='windows-1258'?><a/>",
        "<a/>".encode("utf-16"),
        "<a/>".encode("utf-16-be"),
        "<a/>".encode("utf-16-le"),
    ],
)
def test_non_utf8_refused(data: bytes) -> None:
    with pytest.raises(XmlEncodingForbidden):
        parse_xml(data)


def test_utf8_bom_and_declarations_accepted() -> None:
    assert parse_xml(b"\xef\xbb\xbf<a/>").tag == "a"
    assert parse_xml(b'<?xml version="1.0" encoding="utf-8"?><a/>').tag == "a"
    assert parse_xml('<?xml version="1.0"?><a>Hà Nội</a>'.encode()).text == "Hà Nội"


def test_invalid_utf8_bytes_are_not_well_formed() -> None:
    with pytest.raises(XmlNotWellFormed):
        parse_xml(b"<a>\xff\xfe</a>")


def test_processing_instructions_only_in_the_prolog() -> None:
    assert parse_xml(b'<?xml-stylesheet href="s.xsl"?><a/>').tag == "a"
    with pytest.raises(XmlDtdForbidden):
        parse_xml(b"<a>000<?x?>.00</a>")
    with pytest.raises(XmlDtdForbidden):
        parse_xml(b"<a/><?x?>")
    # "<?" inside a comment or CDATA is text, not a PI
    assert parse_xml(b"<a><!-- <?x?> --><![CDATA[<?y?>]]></a>").tag == "a"


def test_entities_are_never_expanded() -> None:
    # Only predefined and character references exist without a DTD.
    with pytest.raises(XmlNotWellFormed):
        parse_xml(b"<a>&ent;</a>")
    assert parse_xml(b"<a>&amp;&#65;</a>").text == "&A"


def test_parsers_are_per_thread() -> None:
    data = read("status.edxml")
    seen: set[int] = set()
    lock = threading.Lock()

    def work(_: int) -> str:
        import hub.xmlsafe as xmlsafe

        with lock:
            seen.add(id(xmlsafe._parser()))
        return str(parse_xml(data).tag)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(64)))
    assert len(set(results)) == 1
    assert len(seen) >= 1
