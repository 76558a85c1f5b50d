"""A realistic directory export for tests (issue 11): departments of a few provinces with
their Vietnamese names, written to tmp files as CSV or JSON. Test data only, never shipped.

The codes follow Decision 20/2020/QĐ-TTg's form; which number each department has differs by
province, so these are plausible, not an official list.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

H29, H41, H12, H17 = "000.00.00.H29", "000.00.00.H41", "000.00.00.H12", "000.00.00.H17"
H29_TC = "000.00.13.H29"  # Sở Tài chính Hà Nội: not connected, H29 represents it

#: (code, name, parent, code102, old_code); parent "" = the code's own parent
SAMPLE: tuple[tuple[str, str, str, str, str], ...] = (
    # Hà Nội (H29 connected, represents its descendants)
    ("000.00.01.H29", "Văn phòng Ủy ban nhân dân Thành phố Hà Nội", H29, "", ""),
    (H29_TC, "Sở Tài chính Thành phố Hà Nội", H29, H29_TC, "STC.HN"),
    ("000.00.14.H29", "Sở Kế hoạch và Đầu tư Thành phố Hà Nội", H29, "", ""),
    ("000.00.15.H29", "Sở Xây dựng Thành phố Hà Nội", H29, "", ""),
    ("001.00.13.H29", "Phòng Quản lý ngân sách — Sở Tài chính", H29_TC, "", ""),
    # Nghệ An (H41 connected; 000.00.01.H41 Sở Nội vụ registered on its own)
    ("000.00.01.H41", "Sở Nội vụ Tỉnh Nghệ An", H41, "000.00.01.H41", "SNV.NA"),
    ("000.00.02.H41", "Sở Tài nguyên và Môi trường Tỉnh Nghệ An", H41, "", ""),
    ("000.00.03.H41", "Sở Giáo dục và Đào tạo Tỉnh Nghệ An", H41, "", ""),
    # Cà Mau (H12 connected)
    ("000.00.07.H12", "Sở Nông nghiệp và Phát triển nông thôn Tỉnh Cà Mau", H12, "", ""),
    # Đắk Lắk (nobody connected: its units are known, not reachable)
    (H17, "Ủy ban nhân dân Tỉnh Đắk Lắk", "", "", ""),
    ("000.00.05.H17", "Sở Y tế Tỉnh Đắk Lắk", H17, "", ""),
)


def sample_csv(path: Path, rows: tuple[tuple[str, str, str, str, str], ...] = SAMPLE) -> Path:
    """Write ``rows`` as a CSV export (with the BOM Excel writes) and return the path."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["code", "name", "parent", "code102", "old_code"])
    writer.writerows(rows)
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    return path


def sample_json(path: Path, rows: tuple[tuple[str, str, str, str, str], ...] = SAMPLE) -> Path:
    """Write ``rows`` as a VXP ``getAgenciesList``-shaped JSON answer and return the path."""
    data = [
        {"id": c, "code": c, "name": n, "pid": p, "code102": c102, "oldCode": old, "mail": ""}
        for c, n, p, c102, old in rows
    ]
    doc = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success", "data": data}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path
