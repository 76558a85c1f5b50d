"""The agency directory's import checks and VXP mapping (issue 11), without a store."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.config import AgencyConfig
from hub.directory import (
    DirectoryEntry,
    decode_cursor,
    encode_cursor,
    sort_key,
    vxp_agency,
    vxp_sync_unit,
)
from hub.directory_import import detect_format, parse_directory, plan_import
from hub.errors import DirectoryInvalid
from hub.models import DirectoryRecord
from hub.registry import Registry
from hub.routing import resolve
from tests.directory_sample import H12, H29, H29_TC, SAMPLE, sample_csv, sample_json

H41 = "000.00.00.H41"


def registry() -> Registry:
    return Registry(
        {
            H29: AgencyConfig(organ_id=H29, name="UBND Thành phố Hà Nội", represents="descendants"),
            H41: AgencyConfig(organ_id=H41, name="UBND Tỉnh Nghệ An", represents="descendants"),
            H12: AgencyConfig(organ_id=H12, name="UBND Tỉnh Cà Mau", represents="descendants"),
        }
    )


def problems(data: bytes, fmt: str = "csv") -> str:
    with pytest.raises(DirectoryInvalid) as info:
        parse_directory(data, fmt, "f")  # type: ignore[arg-type]
    assert info.value.code == "directory.invalid"
    return info.value.detail


# -- reading the file -------------------------------------------------------------------------


def test_csv_and_vxp_json_exports_read_the_same(tmp_path: Path) -> None:
    from_csv = parse_directory(sample_csv(tmp_path / "d.csv").read_bytes(), "csv")
    from_json = parse_directory(sample_json(tmp_path / "d.json").read_bytes(), "json")
    assert from_csv == from_json
    assert len(from_csv) == len(SAMPLE)
    by_code = {r.code: r for r in from_csv}
    assert by_code[H29_TC] == DirectoryRecord(
        code=H29_TC,
        name="Sở Tài chính Thành phố Hà Nội",
        parent=H29,
        code102=H29_TC,
        old_code="STC.HN",
    )
    # an empty parent is the code's own parent; level 1 has none
    assert by_code["000.00.00.H17"].parent is None
    assert by_code["000.00.14.H29"].code102 is None


def test_names_are_stored_in_nfc_and_cells_stripped() -> None:
    nfd_name = unicodedata.normalize("NFD", "Sở Tài chính")
    (record,) = parse_directory(f"code,name\n {H29_TC} , {nfd_name} \n".encode(), "csv")
    assert record.code == H29_TC
    assert record.name == "Sở Tài chính"
    assert record.name == unicodedata.normalize("NFC", record.name)


def test_a_plain_json_list_with_aliases_is_read() -> None:
    data = json.dumps([{"code": H29_TC, "name": "Sở Tài chính", "pid": "", "oldCode": "X"}])
    (record,) = parse_directory(data.encode(), "json")
    assert (record.parent, record.old_code) == (H29, "X")


def test_every_problem_is_reported_by_line() -> None:
    detail = problems(
        (
            "code,name,parent\n"
            f"{H29_TC},Sở Tài chính,\n"
            "000.00.13.h29,lower case,\n"  # line 3: not an OrganId
            "000.00.14.H29,,\n"  # line 4: empty name
            f"000.00.15.H29,Sở Xây dựng,{H41}\n"  # line 5: a parent from another province
            f"{H29_TC},again,\n"  # line 6: duplicate
        ).encode()
    )
    assert "4 problem(s), nothing imported" in detail
    assert "line 3: code '000.00.13.h29' is not an OrganId" in detail
    assert "line 4: name is empty" in detail
    assert f"line 5: parent {H41} is not above 000.00.15.H29" in detail
    assert f"line 6: code {H29_TC} already given at line 2" in detail


@pytest.mark.parametrize(
    ("data", "fmt", "expected"),
    [
        (b"", "csv", "empty file"),
        (b"code,name,parnet\n", "csv", "unknown column(s) 'parnet'"),
        (b"code\n000.00.13.H29\n", "csv", "missing column(s): name"),
        (b"code,name,pid,parent\n", "csv", "column(s) given twice: parent"),
        (b"code,name\n000.00.13.H29,a,b\n", "csv", "line 2: 3 fields, the header has 2"),
        (b"code,name\n000.00.13.H29,S\xe1\n", "csv", "not UTF-8"),
        (b"code,name\n", "csv", "no entries"),
        (b'{"code": 1', "json", "not JSON (line 1"),
        (b'{"code": "x"}', "json", "expected a list of agencies"),
        (b"[1]", "json", "item 1: expected an object"),
        (b'[{"code": "000.00.13.H29", "name": ["x"]}]', "json", "item 1: name: expected text"),
        (b'[{"code": "000.00.13.H29", "name": "S\\u0007"}]', "json", "control characters"),
        (b"code,name,code102\n000.00.13.H29,S,13\n", "csv", "code102 '13' is not an OrganId"),
    ],
)
def test_files_that_cannot_be_imported(data: bytes, fmt: str, expected: str) -> None:
    assert expected in problems(data, fmt)


def test_format_comes_from_the_extension_or_the_option() -> None:
    assert detect_format(Path("x.CSV"), None) == "csv"
    assert detect_format(Path("x.json"), None) == "json"
    assert detect_format(Path("x.txt"), "json") == "json"
    with pytest.raises(DirectoryInvalid, match="pass --format"):
        detect_format(Path("x.txt"), None)


# -- the plan against what is stored ------------------------------------------------------------


def test_plan_names_added_changed_unchanged_and_kept(tmp_path: Path) -> None:
    records = parse_directory(sample_csv(tmp_path / "d.csv").read_bytes(), "csv")
    stored = [
        DirectoryRecord(H29_TC, "Sở Tài chính Hà Nội", H29, H29_TC, "STC.HN"),  # renamed
        DirectoryRecord("000.00.14.H29", "Sở Kế hoạch và Đầu tư Thành phố Hà Nội", H29),
        DirectoryRecord("000.00.99.H29", "Một sở cũ", H29),  # not in the file: kept
    ]
    plan = plan_import(records, stored, registry())
    actions = {c.code: c for c in plan.changes}
    assert actions[H29_TC].action == "changed"
    assert actions[H29_TC].fields == (
        ("name", "Sở Tài chính Hà Nội", "Sở Tài chính Thành phố Hà Nội"),
    )
    assert actions["000.00.14.H29"].action == "unchanged"
    assert (plan.added, plan.changed, plan.unchanged, plan.kept) == (len(SAMPLE) - 2, 1, 1, 1)
    assert [c.code for c in plan.changes] == sorted(actions, key=sort_key)


def test_a_parent_nobody_knows_is_refused() -> None:
    records = parse_directory(b"code,name\n000.00.05.H17,S\xe1\xbb\x9f Y t\xe1\xba\xbf\n", "csv")
    with pytest.raises(
        DirectoryInvalid, match=re.escape("parent 000.00.00.H17 is neither in the file")
    ):
        plan_import(records, [], registry())
    # known once it is registered, or already in the directory
    assert plan_import(records, [DirectoryRecord("000.00.00.H17", "UBND")], registry()).added == 1


def test_a_registered_code_in_the_file_stays_connected_only_by_its_registration() -> None:
    (record,) = parse_directory(f"code,name,code102\n{H29},Tên khác,{H29}\n".encode(), "csv")
    reg = registry()
    (change,) = plan_import([record], [], reg).changes
    assert change.connected and change.action == "added"
    assert reg.get(H29) is not None and reg.get(H29).name == "UBND Thành phố Hà Nội"  # type: ignore[union-attr]


def test_routing_reads_the_registry_only(tmp_path: Path) -> None:
    """Importing 000.00.13.H29 adds nothing the router sees: a document to it still goes to
    000.00.00.H29, which stands for it (the end-to-end version is in tests/api)."""
    reg = registry()
    parse_directory(sample_csv(tmp_path / "d.csv").read_bytes(), "csv")
    route = resolve(kind="document", sender=H41, addressed=[H29_TC], registry=reg, rules=())
    assert route.recipients == (H29,)
    assert route.stands_for == {H29: (H29_TC,)}


# -- the VXP shapes ---------------------------------------------------------------------------


def test_vxp_agency_maps_every_field_the_sdk_reads() -> None:
    entry = DirectoryEntry(
        code=H29_TC,
        name="Sở Tài chính Thành phố Hà Nội",
        parent=H29,
        level=2,
        connected=False,
        code102=None,
        old_code="STC.HN",
        represented_by=H29,
        revision=3,
        updated_at=datetime(2026, 3, 2, 1, 30, tzinfo=UTC),
    )
    assert vxp_agency(entry) == {
        "id": H29_TC,
        "code": H29_TC,
        "name": "Sở Tài chính Thành phố Hà Nội",
        "pid": H29,
        "code102": H29_TC,  # none recorded: the OrganId is the QCVN 102 code
        "oldCode": "STC.HN",
        "mail": "",
    }
    sync = vxp_sync_unit(entry)
    assert (sync["version"], sync["centerCode"], sync["deleted"], sync["isAgency"]) == (
        3,
        H29,
        False,
        False,
    )
    assert sync["modifyDate"] == "2026-03-02T01:30:00+00:00"
    top = DirectoryEntry(code=H29, name="UBND", parent=None, level=1, connected=True)
    assert (vxp_agency(top)["pid"], vxp_agency(top)["oldCode"]) == ("", "")
    assert (vxp_sync_unit(top)["centerCode"], vxp_sync_unit(top)["isAgency"]) == (H29, True)


def test_cursor_round_trip_and_refusal() -> None:
    assert decode_cursor(encode_cursor(H29_TC)) == H29_TC
    assert decode_cursor(None) is None
    for bad in ("!!", "eHl6", "YQ"):
        with pytest.raises(ValueError, match="invalid cursor"):
            decode_cursor(bad)
