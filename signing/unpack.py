"""Safe unpacking of attachments: find the PDFs inside (possibly nested) ZIP archives.

Attachments arrive base64-encoded and are often zipped. Before anything is decompressed the
central directory is checked against :class:`UnpackLimits`; decompression is then streamed
and stopped as soon as a member exceeds its declared size, its own limit, the total budget or
the compression ratio — the declared sizes in a ZIP header are attacker-controlled, so they
are checked first *and* enforced while reading.

Refusals are :class:`~signing.errors.UnsafeArchive` (``attachment.unsafe_archive``) naming
the member: path traversal or absolute names, encrypted members, too many members, nesting
deeper than allowed, bombs (ratio or size), corrupt archives. PDFs are recognised by their
magic bytes (``%PDF-`` within the first 1024 bytes, as readers accept), never by name.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from .errors import UnsafeArchive

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # local file header, or an empty archive


@dataclass(frozen=True, slots=True)
class UnpackLimits:
    """Limits on what one attachment may expand into (all archives of it together)."""

    max_members: int = 1000
    max_member_bytes: int = 50 * 1024 * 1024
    max_total_bytes: int = 200 * 1024 * 1024
    max_ratio: float = 100.0  # uncompressed / compressed, per member
    max_depth: int = 2  # a zip inside a zip inside the attachment, no deeper
    ratio_floor: int = 1024 * 1024  # members smaller than this are exempt from the ratio


@dataclass(frozen=True, slots=True)
class FoundFile:
    """A file found in an attachment: its path (``a.zip/b/c.pdf``) and bytes."""

    path: str
    data: bytes

    @property
    def is_pdf(self) -> bool:
        """Whether the bytes look like a PDF (magic bytes, not the name)."""
        return is_pdf(self.data)


def is_pdf(data: bytes) -> bool:
    """``%PDF-`` within the first 1024 bytes (readers tolerate a little leading junk)."""
    return PDF_MAGIC in data[:1024]


def is_zip(data: bytes) -> bool:
    """Local-file-header or empty-archive magic at offset 0."""
    return data[:4] in ZIP_MAGIC


class _Budget:
    def __init__(self, limits: UnpackLimits) -> None:
        self.limits = limits
        self.total = 0
        self.members = 0


def unpack(data: bytes, name: str, limits: UnpackLimits | None = None) -> list[FoundFile]:
    """Every non-archive file in ``data`` (itself when it is not a ZIP), archives expanded.

    ``name`` labels the attachment in paths and errors. Raises
    :class:`~signing.errors.UnsafeArchive`.
    """
    budget = _Budget(limits or UnpackLimits())
    return list(_walk(data, name, 0, budget))


def find_pdfs(data: bytes, name: str, limits: UnpackLimits | None = None) -> list[FoundFile]:
    """The PDFs of an attachment (the attachment itself, or members of its archives)."""
    return [f for f in unpack(data, name, limits) if f.is_pdf]


def _walk(data: bytes, path: str, depth: int, budget: _Budget) -> Iterator[FoundFile]:
    if not is_zip(data):
        yield FoundFile(path=path, data=data)
        return
    if depth >= budget.limits.max_depth:
        raise UnsafeArchive(f"{path}: archives nested deeper than {budget.limits.max_depth}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise UnsafeArchive(f"{path}: not a readable ZIP archive: {exc}") from None
    limits = budget.limits
    budget.members += len(infos)
    if budget.members > limits.max_members:
        raise UnsafeArchive(f"{path}: more than {limits.max_members} members")
    seen: set[str] = set()
    for info in infos:
        member = f"{path}/{info.filename}"
        _check_name(info.filename, member)
        if info.filename in seen:
            raise UnsafeArchive(f"{member}: duplicate member name")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise UnsafeArchive(f"{member}: encrypted member")
        if info.is_dir():
            continue
        if info.file_size > limits.max_member_bytes:
            raise UnsafeArchive(
                f"{member}: declares {info.file_size} bytes (limit {limits.max_member_bytes})"
            )
        _check_ratio(info.file_size, info.compress_size, member, limits)
        content = _read_member(archive, info, member, budget)
        yield from _walk(content, member, depth + 1, budget)


def _check_name(filename: str, member: str) -> None:
    if not filename or "\x00" in filename:
        raise UnsafeArchive(f"{member}: empty or NUL in member name")
    normalised = filename.replace("\\", "/")
    pure = PurePosixPath(normalised)
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise UnsafeArchive(f"{member}: absolute member name")
    if any(part == ".." for part in pure.parts):
        raise UnsafeArchive(f"{member}: path traversal in member name")


def _check_ratio(size: int, compressed: int, member: str, limits: UnpackLimits) -> None:
    if size <= limits.ratio_floor:
        return
    if compressed <= 0 or size / compressed > limits.max_ratio:
        raise UnsafeArchive(
            f"{member}: compression ratio {size}/{max(compressed, 0)} above {limits.max_ratio:g}"
        )


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: str, budget: _Budget
) -> bytes:
    limits = budget.limits
    cap = min(info.file_size, limits.max_member_bytes)
    # A BytesIO hands its buffer out without a copy (bytes(bytearray) would copy the member).
    out = io.BytesIO()
    size = 0
    try:
        with archive.open(info) as stream:
            while True:
                chunk = stream.read(64 * 1024)
                if not chunk:
                    break
                size += out.write(chunk)
                # Enforced while reading: the header's sizes may lie.
                if size > cap:
                    raise UnsafeArchive(f"{member}: expands beyond its declared/limited size")
                if budget.total + size > limits.max_total_bytes:
                    raise UnsafeArchive(
                        f"{member}: attachment expands beyond {limits.max_total_bytes} bytes"
                    )
                _check_ratio(size, info.compress_size, member, limits)
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, NotImplementedError) as exc:
        raise UnsafeArchive(f"{member}: cannot be decompressed: {exc}") from None
    except RuntimeError as exc:  # zipfile raises it for encryption it cannot handle
        raise UnsafeArchive(f"{member}: {exc}") from None
    budget.total += size
    return out.getvalue()
