"""Safe unpacking of attachments: bombs, counts, depth, traversal, encryption; PDFs by magic."""

from __future__ import annotations

import io
import zipfile

import pytest

from signing import UnpackLimits, UnsafeArchive, find_pdfs
from signing.unpack import unpack

PDF = b"%PDF-1.7\n%test\n"


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_plain_pdf_and_non_pdf() -> None:
    assert [f.path for f in find_pdfs(PDF, "a.pdf")] == ["a.pdf"]
    assert find_pdfs(b"random bytes named .pdf", "b.pdf") == []


def test_pdfs_found_by_magic_in_nested_zip() -> None:
    inner = _zip({"deep/x.bin": PDF, "note.txt": b"hello"})
    outer = _zip({"doc.pdf": b"\x00not a pdf", "inner.zip": inner, "real.dat": PDF})
    paths = sorted(f.path for f in find_pdfs(outer, "att.zip"))
    assert paths == ["att.zip/inner.zip/deep/x.bin", "att.zip/real.dat"]


@pytest.mark.parametrize(
    "name", ["../evil.pdf", "/etc/passwd", "a/../../b", "C:\\win.pdf", "..\\x"]
)
def test_path_traversal_refused(name: str) -> None:
    with pytest.raises(UnsafeArchive) as info:
        unpack(_zip({name: PDF}), "att.zip")
    assert info.value.code == "attachment.unsafe_archive"
    assert "att.zip/" in info.value.detail


def test_zip_bomb_ratio_refused() -> None:
    bomb = _zip({"zeros.pdf": b"\0" * (5 * 1024 * 1024)})
    with pytest.raises(UnsafeArchive, match="ratio"):
        unpack(bomb, "bomb.zip")


def test_size_and_total_limits() -> None:
    data = _zip({"a": b"x" * 2000, "b": b"y" * 2000}, zipfile.ZIP_STORED)
    with pytest.raises(UnsafeArchive, match="declares"):
        unpack(data, "z", UnpackLimits(max_member_bytes=1000))
    with pytest.raises(UnsafeArchive, match="beyond 3000"):
        unpack(data, "z", UnpackLimits(max_total_bytes=3000))


def test_lying_header_is_caught_while_reading() -> None:
    data = bytearray(_zip({"a.pdf": PDF * 100}, zipfile.ZIP_STORED))
    # Shrink the declared size in the central directory: reading must stop at the cap.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")
    with pytest.raises(UnsafeArchive):
        unpack(bytes(data), "liar.zip")


def test_too_many_members_and_depth() -> None:
    many = _zip({f"f{i}": b"x" for i in range(20)})
    with pytest.raises(UnsafeArchive, match="more than 10"):
        unpack(many, "m.zip", UnpackLimits(max_members=10))
    nested = _zip({"l1.zip": _zip({"l2.zip": _zip({"x.pdf": PDF})})})
    with pytest.raises(UnsafeArchive, match="nested"):
        unpack(nested, "n.zip")
    assert len(find_pdfs(nested, "n.zip", UnpackLimits(max_depth=3))) == 1


def test_encrypted_and_corrupt_refused() -> None:
    data = bytearray(_zip({"secret.pdf": PDF}))
    data[6] |= 0x1  # local header flag
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 8] |= 0x1  # central directory flag: "encrypted"
    with pytest.raises(UnsafeArchive, match="encrypted"):
        unpack(bytes(data), "e.zip")
    with pytest.raises(UnsafeArchive, match="readable"):
        unpack(b"PK\x03\x04garbage", "c.zip")


def test_duplicate_names_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.pdf", PDF)
        with pytest.warns(UserWarning):
            zf.writestr("a.pdf", b"other")
    with pytest.raises(UnsafeArchive, match="duplicate"):
        unpack(buf.getvalue(), "d.zip")
