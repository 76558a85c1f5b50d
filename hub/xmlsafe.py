"""Safe XML parsing for untrusted packages.

Every byte string that reaches the hub from outside goes through :func:`parse_xml` before
anything else looks at it. The checks run in this order, each one cheaper than the next and
each one before the parser sees anything it could be harmed by:

1. size (:class:`~hub.errors.PackageTooLarge`) — on the length only;
2. the prolog is scanned *without parsing* for a ``<!DOCTYPE``: any DTD is refused
   (:class:`~hub.errors.XmlDtdForbidden`), so entity declarations (billion laughs, quadratic
   blow-up, external entities, external DTDs) never reach libxml2 at all;
3. encoding: UTF-8 only (:class:`~hub.errors.XmlEncodingForbidden`);
4. the parse itself, with entity resolution, network access and DTD loading switched off as
   a second line of defence (:class:`~hub.errors.XmlNotWellFormed`, with line and column);
5. processing instructions are refused inside and after the root element (see
   :func:`parse_xml`).
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from hub.errors import PackageTooLarge, XmlDtdForbidden, XmlEncodingForbidden, XmlNotWellFormed

__all__ = ["DEFAULT_MAX_SIZE", "check_size", "parse_xml"]

DEFAULT_MAX_SIZE = 20 * 1024 * 1024
"""Default package size limit in bytes (20 MiB)."""

_UTF8_BOM = b"\xef\xbb\xbf"
# UTF-16/32 byte-order marks, and the first two bytes of a BOM-less UTF-16 "<?" or "<x".
_FOREIGN_STARTS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\x00<", b"<\x00")
_XML_DECL = re.compile(rb"<\?xml[ \t\r\n][^>]*?\?>")
_ENCODING = re.compile(rb"""encoding[ \t\r\n]*=[ \t\r\n]*(["'])([^"']*)\1""")
_DOCTYPE = b"<!doctype"

# lxml parsers keep per-parse state and must not be used by two threads at once, so each
# thread gets its own, built once and reused (building one costs more than a small parse).
_local = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_blank_text=False,
        )
        _local.parser = parser
    return parser


def check_size(length: int | None, max_size: int) -> None:
    """Refuse a package whose length is over ``max_size`` bytes.

    ``length`` may be ``None`` when it is not known yet (e.g. a chunked HTTP body before it
    has been read); that passes here and the caller checks again once it has the bytes.

    :raises PackageTooLarge: when ``length > max_size``.
    """
    if length is not None and length > max_size:
        raise PackageTooLarge(
            f"package is {length} bytes, the limit is {max_size} bytes",
            size=length,
            max_size=max_size,
        )


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _scan_prolog(data: bytes) -> int:
    """Check the prolog and return the offset where the root start tag (or junk) begins.

    The XML declaration, whitespace, comments and processing instructions are skipped.
    Anything else that is not a start tag is left to the parser, which reports it with a
    precise position (e.g. stray bytes before the XML declaration).
    """
    for start in _FOREIGN_STARTS:
        if data.startswith(start):
            raise XmlEncodingForbidden("only UTF-8 is accepted; the package starts as UTF-16/32")
    pos = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    decl = _XML_DECL.match(data, pos)
    if decl is not None:
        enc = _ENCODING.search(decl.group(0))
        if enc is not None and enc.group(2).lower() != b"utf-8":
            name = enc.group(2).decode("ascii", "replace")
            raise XmlEncodingForbidden(
                f"only UTF-8 is accepted; the XML declaration names {name!r}", encoding=name
            )
        pos = decl.end()
    n = len(data)
    while pos < n:
        ch = data[pos : pos + 1]
        if ch in (b" ", b"\t", b"\r", b"\n"):
            pos += 1
            continue
        if data.startswith(b"<!--", pos):
            end = data.find(b"-->", pos + 4)
            if end < 0:
                return pos  # unterminated comment: the parser reports it
            pos = end + 3
            continue
        if data[pos : pos + len(_DOCTYPE)].lower() == _DOCTYPE:
            raise XmlDtdForbidden(
                "a DOCTYPE (DTD) is not allowed in a package", line=_line_of(data, pos)
            )
        if data.startswith(b"<?", pos):
            # A processing instruction before the root (e.g. xml-stylesheet) is inert here.
            end = data.find(b"?>", pos + 2)
            if end < 0:
                return pos
            pos = end + 2
            continue
        return pos
    return pos


def _refuse_processing_instructions(root: etree._Element) -> None:
    # Only reached when the raw bytes contain "<?" after the prolog, which may just be text
    # inside a comment or CDATA section; the tree tells the truth.
    pis: list[etree._Element] = list(root.iter(etree.PI))
    pis.extend(s for s in root.itersiblings() if isinstance(s, etree._ProcessingInstruction))
    if pis:
        raise XmlDtdForbidden(
            "processing instructions are only allowed before the root element",
            line=pis[0].sourceline,
        )


def parse_xml(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> etree._Element:
    """Parse an untrusted package and return its root element.

    Processing instructions are allowed in the prolog only (before the root element, where
    real files carry things like ``xml-stylesheet``; nothing here processes them). Inside or
    after the root element they are refused: edXML never needs one there, and a PI inside an
    element splits its text (``<OrganId>000<?x?>.00.00.H41</OrganId>``), a parser-differential
    hazard in fields that decide routing and signer binding. They are refused rather than
    stripped because a signature covers them. Comments are allowed everywhere: real senders
    write them (and the signature layer returns a comment-free tree).

    :raises PackageTooLarge: over ``max_size`` bytes, or a single text node over libxml2's
        10 MB limit (``huge_tree`` stays off).
    :raises XmlDtdForbidden: a DOCTYPE, or a processing instruction in or after the root.
    :raises XmlEncodingForbidden: an encoding other than UTF-8.
    :raises XmlNotWellFormed: anything the parser refuses, with its line and column.
    """
    check_size(len(data), max_size)
    root_at = _scan_prolog(data)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        msg = exc.msg.lower()
        if "text node too long" in msg or "huge text node" in msg:
            # libxml2's per-text-node cap (10 MB) with huge_tree off: a size problem really.
            raise PackageTooLarge(
                f"a single text node is larger than the parser allows: {exc.msg}",
                line=line,
            ) from None
        raise XmlNotWellFormed(exc.msg, line=line, column=column) from None
    if data.find(b"<?", root_at) >= 0:
        _refuse_processing_instructions(root)
    return root
