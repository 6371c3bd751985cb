"""The managers' reports over HTTP: who may see them, the period and filters in the link, both languages, the CSV
(UTF-8 with Excel's byte-order mark, Vietnamese intact, formulas defused) and the printable month.

The figures themselves are checked exactly in tests/activities/test_reports.py; here, that pages and CSVs carry
them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from report_population import CAUSE, FORMULA_LESSON, LESSON, Seeded, seed_reports
from web_support import SignIn

from activities.records import ComplaintRecords
from domain.calendar import BUSINESS_TZ

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

REPORT_PAGES = ("sla", "stages", "wip", "volume", "lessons")


@pytest.fixture(scope="module")
async def seeded(records: ComplaintRecords) -> Seeded:
    return await seed_reports(records, datetime.now(UTC))


def rows_of(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode()), "Excel needs the byte-order mark to read UTF-8"
    return list(csv.reader(io.StringIO(body.decode("utf-8").removeprefix("\ufeff"))))


async def test_agents_get_403_managers_and_admins_see_every_report(signed_in: SignIn, seeded: Seeded) -> None:
    agent = await signed_in("agent")
    for path in ("/reports", "/reports/sla", "/reports/lessons.csv", "/reports/monthly"):
        refused = await agent.get(path)
        assert refused.status_code == 403, path
        assert "Chỉ quản lý và quản trị viên" in refused.text
    home = await agent.get("/")
    assert 'href="/reports"' not in home.text, "no link to the reports for an agent"

    for role in ("manager", "admin"):
        reader = await signed_in(role)
        assert 'href="/reports"' in (await reader.get("/")).text
        index = await reader.get("/reports?department=billing")
        assert index.status_code == 303 and index.headers["location"] == "/reports/sla?department=billing"
        for name in REPORT_PAGES:
            page = await reader.get(f"/reports/{name}")
            assert page.status_code == 200, (role, name, page.text[:500])
            assert "<svg" in page.text and "<script" not in page.text
            assert f'href="/reports/{name}.csv?' in page.text


async def test_sla_page_in_both_languages_with_its_period_in_the_link(signed_in: SignIn, seeded: Seeded) -> None:
    manager = await signed_in("manager")
    today = datetime.now(BUSINESS_TZ).date()
    start = (today - timedelta(days=60)).isoformat()
    page = await manager.get(f"/reports/sla?from={start}&to={today.isoformat()}")
    assert "Tuân thủ thời hạn" in page.text and "Phản hồi đầu tiên trong 24 giờ" in page.text
    assert f'value="{start}"' in page.text
    english = await manager.get(f"/reports/sla?from={start}&to={today.isoformat()}&lang=en")
    assert "SLA compliance" in english.text and "First response in 24 h" in english.text
    assert "Chăm sóc khách hàng" not in english.text

    # Three complaints in the SLA (merged and withdrawn left out): two first responses met of three decided.
    sla = rows_of((await manager.get(f"/reports/sla.csv?table=department&from={start}&lang=en")).content)
    assert sla[0][:3] == ["Department", "Complaints", "First response in 24 h"]
    by_department = {row[0]: row for row in sla[1:]}
    assert by_department["billing"][1:5] == ["2", "2/2", "100.0", "0"]
    assert by_department["network"][1:5] == ["1", "0/1", "0.0", "1"]
    assert by_department[sla[-1][0]][0] in ("All", "Tất cả")


async def test_each_report_exports_every_table_as_csv(signed_in: SignIn, seeded: Seeded) -> None:
    manager = await signed_in("manager")
    lessons = await manager.get("/reports/lessons.csv?table=lessons")
    assert lessons.headers["content-type"] == "text/csv; charset=utf-8"
    assert lessons.headers["content-disposition"].startswith('attachment; filename="lessons-lessons-')
    rows = rows_of(lessons.content)
    assert rows[0] == [
        "Thời điểm đóng",
        "Số khiếu nại",
        "Bộ phận",
        "Nguyên nhân",
        "Lỗi thuộc công ty",
        "Bài học kinh nghiệm",
        "Tóm tắt",
    ]
    found = {row[1]: row for row in rows[1:]}
    a, b = seeded.states["a"], seeded.states["b"]
    assert found[a.case_number][2:] == ["billing", CAUSE, "có", LESSON, "Đã hoàn cước"]
    assert found[b.case_number][5] == "'" + FORMULA_LESSON, "a formula is quoted, never run by Excel"
    causes = rows_of((await manager.get("/reports/lessons.csv?table=causes")).content)
    assert causes[1] == [CAUSE, "2", "Cước và thanh toán, Hạ tầng mạng"]
    searched = rows_of((await manager.get("/reports/lessons.csv?table=lessons&q=đối soát")).content)
    assert [row[1] for row in searched[1:]] == [a.case_number]

    overdue = rows_of((await manager.get("/reports/wip.csv?table=overdue")).content)
    assert seeded.states["c"].case_number in [row[0] for row in overdue[1:]]
    weeks = rows_of((await manager.get("/reports/volume.csv?table=weeks")).content)
    assert weeks[-1][0] == "Tất cả" and weeks[-1][1:5] == ["5", "0", "1", "1"]
    stages = rows_of((await manager.get("/reports/stages.csv")).content)
    assert stages[0][0] == "Trạng thái" and {"received", "approved"} <= {row[0] for row in stages[1:]}

    page = await manager.get("/reports/wip")
    assert f'href="/complaints/{seeded.states["c"].complaint_id}"' in page.text, "each row links to its complaint"


async def test_a_link_the_reports_cannot_take_is_a_400_naming_it(signed_in: SignIn, seeded: Seeded) -> None:
    manager = await signed_in("manager")
    for query, parameter in (
        ("from=2026-13-01", "from"),
        ("from=yesterday", "from"),
        ("from=2026-03-02&to=2026-03-01", "to"),
        ("from=2000-01-01&to=2026-01-01", "to"),
        ("channel=pigeon", "channel"),
        ("department=Robert'); DROP", "department"),
        ("month=2026-13", "month"),
        ("q=" + "x" * 101, "q"),
        ("q=a%E2%80%AEb", "q"),  # a right-to-left override
    ):
        path = "/reports/monthly" if parameter == "month" else "/reports/sla"
        refused = await manager.get(f"{path}?{query}")
        assert refused.status_code == 400, query
        assert parameter in refused.text
    assert (await manager.get("/reports/nonsense")).status_code == 404
    assert (await manager.get("/reports/sla.csv?table=nonsense")).status_code == 404


async def test_the_printable_month(signed_in: SignIn, seeded: Seeded) -> None:
    manager = await signed_in("manager")
    received = seeded.states["a"].received_at.astimezone(BUSINESS_TZ)
    month = received.strftime("%Y-%m")
    page = await manager.get(f"/reports/monthly?month={month}&lang=en")
    assert page.status_code == 200
    assert f"Monthly report {month[5:]}/{month[:4]}" in page.text
    for title in ("SLA compliance", "Where the time goes", "Volume", "Lessons learned"):
        assert f"<h2>{title}</h2>" in page.text
    assert "@media print" in (await manager.get("/static/reports.css")).text


async def test_volume_lists_quiet_weeks_wip_shows_no_period_overdue_says_what_is_late(
    signed_in: SignIn, seeded: Seeded
) -> None:
    """The review's page faults: a week without events is a row of zeros (table, CSV, chart); work in progress,
    which is now whatever the period, offers no period to pick; an overdue complaint whose timer has not fired yet
    reads as late by so many working days, with no breach recorded yet (not as "breached: no")."""
    manager = await signed_in("manager")
    today = datetime.now(BUSINESS_TZ).date()
    start = today - timedelta(days=120)
    mondays = (today - timedelta(days=today.weekday()) - (start - timedelta(days=start.weekday()))).days // 7 + 1
    query = f"from={start.isoformat()}&to={today.isoformat()}&lang=en"
    weeks = rows_of((await manager.get(f"/reports/volume.csv?table=weeks&{query}")).content)
    assert len(weeks) == 1 + mondays + 1, "a header, every week of the period, the total"
    assert ["0", "0", "0", "0", "0"] in [row[1:] for row in weeks[1:-1]]
    monday = start - timedelta(days=start.weekday())
    assert weeks[1][0] == monday.isoformat() and weeks[-2][0] == (today - timedelta(days=today.weekday())).isoformat()
    for table in ("channels", "departments"):
        assert len(rows_of((await manager.get(f"/reports/volume.csv?table={table}&{query}")).content)) == mondays + 2
    page = await manager.get(f"/reports/volume?{query}")
    assert page.text.count('class="value">0<') >= 2, "the chart draws the quiet weeks too"

    wip = await manager.get(f"/reports/wip?{query}")
    assert 'type="date"' not in wip.text and "Last 6 months" not in wip.text
    assert f'value="{start.isoformat()}"' in wip.text, "the period rides along to the other tabs"
    overdue = rows_of((await manager.get(f"/reports/wip.csv?table=overdue&{query}")).content)
    assert overdue[0][-4:] == ["Due date", "Deadline missed", "Working days past due", "Breach recorded"]
    [c] = [row for row in overdue[1:] if row[0] == seeded.states["c"].case_number]
    assert c[-3] == "resolution" and int(c[-2]) > 0 and c[-1] == "no"
    vietnamese = await manager.get("/reports/wip?lang=vi")
    assert "Số ngày làm việc quá hạn" in vietnamese.text and "Đã ghi nhận quá hạn" in vietnamese.text
