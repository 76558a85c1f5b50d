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
   a second line of defence (:class:`~hub.errors.XmlNotWellFormed`, with line and column),
   and the element depth counted *while* parsing (:class:`~hub.errors.XmlTooDeep`);
5. processing instructions are refused inside and after the root element (see
   :func:`parse_xml`).

``huge_tree`` is on, so one text node (one attachment's base64) may use the whole package
limit. It also lifts libxml2's own nesting limit (256 → 2048 in libxml2 ≥ 2.11, none at all
in older releases), which is why the hub enforces a depth limit of its own: the bytes are fed
to a pull parser in small chunks and the depth is checked after each chunk, so a depth bomb
is refused after at most one chunk's worth of nesting has been built, whatever libxml2's
version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from lxml import etree

from hub.errors import (
    PackageTooLarge,
    XmlDtdForbidden,
    XmlEncodingForbidden,
    XmlNotWellFormed,
    XmlTooDeep,
)

__all__ = ["DEFAULT_MAX_DEPTH", "DEFAULT_MAX_SIZE", "check_size", "parse_xml", "parse_xml_stream"]

DEFAULT_MAX_SIZE = 20 * 1024 * 1024
"""Default package size limit in bytes (20 MiB)."""

DEFAULT_MAX_DEPTH = 64
"""Default limit on element nesting (the document element is depth 1). The real edXML
samples are at most 9 deep, the XMLDSig interop vectors at most 17."""

# Bytes handed to the parser per feed: the depth is checked between feeds, so at most this
# many bytes of nesting (a third as many levels) are built before a depth bomb is refused.
_CHUNK = 16 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
# UTF-16/32 byte-order marks, and the first two bytes of a BOM-less UTF-16 "<?" or "<x".
_FOREIGN_STARTS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\x00<", b"<\x00")
_XML_DECL = re.compile(rb"<\?xml[ \t\r\n][^>]*?\?>")
_ENCODING = re.compile(rb"""encoding[ \t\r\n]*=[ \t\r\n]*(["'])([^"']*)\1""")
_DOCTYPE = b"<!doctype"


def _parser() -> etree.XMLPullParser:
    """A new hardened pull parser for one document.

    A fresh one each time (~35 µs): a pull parser keeps its queue of events across an
    aborted parse, so reusing one after a refusal could leak the last document's events
    into the next; and a parser per call is trivially safe across threads.
    """
    return etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,  # one attachment may use the whole package limit (see above)
        remove_blank_text=False,
    )


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


def _slices(data: bytes) -> Iterator[bytes]:
    for offset in range(0, len(data), _CHUNK):
        yield data[offset : offset + _CHUNK]


def _feed(chunks: Iterable[bytes], max_depth: int) -> etree._Element:
    """Parse ``chunks``, refusing nesting deeper than ``max_depth`` as it is built."""
    parser = _parser()
    depth = 0
    for chunk in chunks:
        parser.feed(chunk)
        for event, element in parser.read_events():
            if event == "end":
                depth -= 1
                continue
            depth += 1
            if depth > max_depth:
                raise XmlTooDeep(
                    f"elements are nested deeper than {max_depth} levels",
                    line=element.sourceline if isinstance(element, etree._Element) else None,
                    max_depth=max_depth,
                )
    root: etree._Element = parser.close()
    return root


def _parse(chunks: Iterable[bytes], max_depth: int) -> etree._Element:
    """:func:`_feed` with libxml2's errors turned into the hub's refusals."""
    try:
        return _feed(chunks, max_depth)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        msg = exc.msg.lower()
        if "excessive depth" in msg:
            # libxml2's own limit (2048 with huge_tree), only reachable with a max_depth
            # configured above it.
            raise XmlTooDeep(exc.msg, line=line, max_depth=max_depth) from None
        if "text node too long" in msg or "huge text node" in msg:
            # libxml2's per-text-node cap, 1 GB even with huge_tree: a size problem really.
            raise PackageTooLarge(
                f"a single text node is larger than the parser allows: {exc.msg}",
                line=line,
            ) from None
        raise XmlNotWellFormed(exc.msg, line=line, column=column) from None


def parse_xml(
    data: bytes, *, max_size: int = DEFAULT_MAX_SIZE, max_depth: int = DEFAULT_MAX_DEPTH
) -> etree._Element:
    """Parse an untrusted package and return its root element.

    Processing instructions are allowed in the prolog only (before the root element, where
    real files carry things like ``xml-stylesheet``; nothing here processes them). Inside or
    after the root element they are refused: edXML never needs one there, and a PI inside an
    element splits its text (``<OrganId>000<?x?>.00.00.H41</OrganId>``), a parser-differential
    hazard in fields that decide routing and signer binding. They are refused rather than
    stripped because a signature covers them. Comments are allowed everywhere: real senders
    write them (and the signature layer returns a comment-free tree).

    :raises PackageTooLarge: over ``max_size`` bytes.
    :raises XmlDtdForbidden: a DOCTYPE, or a processing instruction in or after the root.
    :raises XmlEncodingForbidden: an encoding other than UTF-8.
    :raises XmlTooDeep: elements nested deeper than ``max_depth``.
    :raises XmlNotWellFormed: anything the parser refuses, with its line and column.
    """
    check_size(len(data), max_size)
    root_at = _scan_prolog(data)
    root = _parse(_slices(data), max_depth)
    if data.find(b"<?", root_at) >= 0:
        _refuse_processing_instructions(root)
    return root


def _prolog_complete(head: bytes, root_at: int) -> bool:
    """Whether :func:`_scan_prolog` could judge the whole prolog from ``head`` alone: it
    stopped with enough bytes left to tell a DOCTYPE, and not at a comment or processing
    instruction (or XML declaration) cut off by the end of ``head``."""
    return root_at + len(_DOCTYPE) <= len(head) and not head.startswith((b"<!--", b"<?"), root_at)


def parse_xml_stream(
    read: Callable[[int], bytes],
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> etree._Element:
    """:func:`parse_xml` for a document read from a stream (``read(n)`` as of a binary
    file), with the same checks, in the same order, and the same refusals.

    The document is never one ``bytes`` object: the prolog is read until it can be judged
    (usually the first chunk), then the parser is fed chunk by chunk. For a large package
    this saves a whole copy of it (issue 10). The size is checked as the chunks arrive.
    """
    head = b""
    while True:
        more = read(max(_CHUNK, len(head)))  # doubling: a long prolog is not quadratic
        head += more
        check_size(len(head), max_size)
        root_at = _scan_prolog(head)
        if not more or _prolog_complete(head, root_at):
            break
    size = len(head)
    pi_after_root = head.find(b"<?", root_at) >= 0
    last = head[-1:]

    def chunks() -> Iterator[bytes]:
        nonlocal size, pi_after_root, last
        yield from _slices(head)
        while chunk := read(_CHUNK):
            size += len(chunk)
            check_size(size, max_size)
            # "<?" may straddle two chunks: look at the previous chunk's last byte too.
            if not pi_after_root and (last + chunk).find(b"<?") >= 0:
                pi_after_root = True
            last = chunk[-1:]
            yield chunk

    root = _parse(chunks(), max_depth)
    if pi_after_root:
        _refuse_processing_instructions(root)
    return root
