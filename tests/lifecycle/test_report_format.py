"""``hub report``'s table: headings that say what they measure, and a legend under it."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.lifecycle.reports import COLUMNS, AgencyFigures, Report, _total, format_table

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def test_table_has_a_legend_for_every_column() -> None:
    portal = AgencyFigures("000.00.01.G22", "Cổng DVCQG", docs_received=91, silent_days=0)
    department = AgencyFigures(
        "000.00.12.H29", "Sở Xây dựng", dossiers=20, processed=17, on_time=17, silent_days=0
    )
    rows = (portal, department)
    text = format_table(Report(T0, T0, T0, rows, _total(rows)))
    head, _, legend = text.partition("\nColumns:\n")
    for heading, _, what in COLUMNS[1:]:
        assert heading in head.splitlines()[1]
        assert f"  {heading}" in legend and what in legend
    assert "ack≤SLA" not in text  # it measured status answers: named for what it measures
    portal_line = next(line for line in head.splitlines() if line.startswith("000.00.01.G22"))
    assert portal_line.rstrip().endswith(" 0") and "never" not in portal_line
    department_line = next(line for line in head.splitlines() if line.startswith("000.00.12"))
    assert "100.0" in department_line
