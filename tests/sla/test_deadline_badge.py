"""One deadline badge for every list and record page: time left or overdue in working time."""

from __future__ import annotations

from datetime import datetime

import pytest

from crm.sla.badge import deadline_badge, remaining_text
from crm.sla.clock import WorkCalendar

# Monday 2026-12-07 10:00 in Shanghai (02:00 UTC); working hours 09:00–18:00.
NOW = datetime(2026, 12, 7, 2, 0)


@pytest.mark.parametrize(
    ("due", "text"),
    [
        (datetime(2026, 12, 9, 2, 0), "剩余 2 个工作日"),  # Wednesday 10:00
        (datetime(2026, 12, 7, 5, 30), "剩余 3 个工作小时"),  # today 13:30
        (datetime(2026, 12, 7, 2, 20), "剩余 20 分钟"),
        (datetime(2026, 12, 4, 7, 0), "已超时 4 个工作小时"),  # Friday 15:00: 3 h on Friday, 1 h today
        (datetime(2026, 12, 1, 2, 0), "已超时 4 个工作日"),
    ],
)
def test_the_badge_reads_the_working_time_left_or_overdue(app, due, text):
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        got = remaining_text(due, NOW, WorkCalendar())
    assert got == text


def test_the_badge_carries_the_exact_deadline_and_the_status_colour(app):
    with app.test_request_context():
        ok = str(deadline_badge("ok", datetime(2026, 12, 9, 2, 0), NOW))
        late = str(deadline_badge("breached", datetime(2026, 12, 4, 7, 0), NOW))
        paused = str(deadline_badge("paused", None, NOW))
        none = str(deadline_badge("met", datetime(2026, 12, 4, 7, 0), NOW))
    assert "text-bg-success" in ok
    assert 'data-sla="ok"' in ok
    assert "2026-12-09 10:00" in ok  # in the title, in Shanghai time
    assert "到期" not in ok  # "… 到期" read as expired
    assert "text-bg-danger" in late
    assert "已超时" in late
    assert "text-bg-secondary" in paused
    assert none == ""


def test_every_list_and_record_page_uses_the_one_badge(app):
    """No template builds its own deadline badge: they call deadline_badge (directly or via workflow/_sla.html)."""
    from pathlib import Path

    root = Path(app.root_path).parent / "templates"
    for path in root.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for old in ("Due %(when)s", "Due soon: %(when)s", "Overdue since %(when)s"):
            assert old not in text, f"{path.relative_to(root)} builds its own badge ({old})"
