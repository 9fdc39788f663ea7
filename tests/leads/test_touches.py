"""Touches: their effect on the lead's state and SLA, the photo checks, who may log and see them."""

from __future__ import annotations

import io
import os
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.extensions import db
from crm.leads.models import Script, Touch
from crm.leads.services import TOUCH_PHOTO_AREA
from tests.helpers import gen_product
from tests.leads import test_lead_pages
from tests.leads.test_lead_pages import gen_lead, get_lead, send, signed_in, text

people = test_lead_pages.people  # the same users, as a fixture of this module

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200
WEBP = b"RIFF\x00\x01\x00\x00WEBPVP8 " + b"\x00" * 200
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200
# A Monday 09:00 in Shanghai (naive UTC), weeks before the tests run: its deadlines are long past.
LONG_AGO = datetime(2026, 11, 2, 1, 0)


def touch_form(version, **overrides):
    data = {
        "seen_version": str(version),
        "kind": "visit",
        "method": "random_visit",
        "summary": "见到王总，对头孢系列感兴趣",
        "outcome": "约下周看样品",
        "next_step": "带样品和政策",
        "next_touch_on": "2026-12-07",
    }
    data.update(overrides)
    return data


def touches_of(app, lead_id) -> list[Touch]:
    with app.app_context():
        rows = db.session.scalars(select(Touch).where(Touch.lead_id == lead_id).order_by(Touch.id)).all()
        db.session.expunge_all()
        return list(rows)


def photo_dir(app) -> Path:
    return Path(app.instance_path) / "uploads" / TOUCH_PHOTO_AREA


def stored_photos(app) -> set[str]:
    directory = photo_dir(app)
    return set(os.listdir(directory)) if directory.exists() else set()


# -- effect on the lead ---------------------------------------------------------------


def test_a_touch_on_a_new_lead_marks_it_contacted(app, people):
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["rep"])
    page = text(client.get(f"/leads/{lead_id}/touches/new"))
    assert 'enctype="multipart/form-data"' in page
    assert "随机走访" in page or "Random visit" in page

    response = send(client, f"/leads/{lead_id}/touches/new", touch_form(get_lead(app, lead_id).version))
    assert response.status_code == 303, text(response)
    lead = get_lead(app, lead_id)
    assert lead.state == "contacted"
    assert lead.last_touch_at is not None
    assert lead.next_touch_on == date(2026, 12, 7)
    [touch] = touches_of(app, lead_id)
    assert (touch.summary, touch.outcome, touch.user_id) == (
        "见到王总，对头孢系列感兴趣",
        "约下周看样品",
        people["rep"].id,
    )

    page = text(client.get(f"/leads/{lead_id}"))
    timeline = page[page.index('data-testid="timeline"') :]
    # Newest first: the touch and the move to "contacted" come before the creation.
    assert timeline.index("见到王总") < timeline.index('data-event="create"')
    assert 'data-event="contact"' in timeline


def test_a_touch_while_following_keeps_the_state_and_restarts_the_clock(app, people):
    lead_id = gen_lead(app, people["rep"].id, events=["contact", "follow"], now=LONG_AGO)
    before = get_lead(app, lead_id)
    assert before.state == "following"
    client = signed_in(app, people["rep"])
    response = send(client, f"/leads/{lead_id}/touches/new", touch_form(before.version, kind="call", method="web_info"))
    assert response.status_code == 303
    after = get_lead(app, lead_id)
    assert after.state == "following"
    assert after.sla_due_at > before.sla_due_at
    assert after.sla_status == "ok"
    page = text(client.get(f"/leads/{lead_id}"))
    assert 'data-event="log_touch"' not in page  # the touch stands for it on the timeline
    assert 'data-kind="call"' in page


@pytest.mark.parametrize("events", [["contact"], ["contact", "show_intent"]])
def test_in_other_states_the_touch_is_only_recorded(app, people, events):
    lead_id = gen_lead(app, people["rep"].id, events=events)
    before = get_lead(app, lead_id)
    client = signed_in(app, people["rep"])
    assert send(client, f"/leads/{lead_id}/touches/new", touch_form(before.version)).status_code == 303
    after = get_lead(app, lead_id)
    assert (after.state, after.sla_due_at) == (before.state, before.sla_due_at)
    assert len(touches_of(app, lead_id)) == 1


def test_the_summary_is_required(app, people):
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["rep"])
    response = send(client, f"/leads/{lead_id}/touches/new", touch_form(get_lead(app, lead_id).version, summary="  "))
    assert response.status_code == 200
    assert get_lead(app, lead_id).state == "new"
    assert touches_of(app, lead_id) == []


def test_the_method_is_chosen_not_defaulted(app, people):
    """A call is not a 随机走访: the form offers no method until the rep picks one, and refuses none."""
    import re

    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["rep"])
    page = text(client.get(f"/leads/{lead_id}/touches/new"))
    select_html = re.search(r'<select[^>]*name="method".*?</select>', page, re.S).group(0)
    first = re.search(r"<option[^>]*>", select_html).group(0)
    assert 'value=""' in first
    assert "selected" not in select_html
    response = send(client, f"/leads/{lead_id}/touches/new", touch_form(get_lead(app, lead_id).version, method=""))
    assert response.status_code == 200
    assert touches_of(app, lead_id) == []


def test_a_stale_touch_form_answers_409(app, people):
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["rep"])
    stale = get_lead(app, lead_id).version
    assert send(client, f"/leads/{lead_id}/touches/new", touch_form(stale)).status_code == 303
    assert send(client, f"/leads/{lead_id}/touches/new", touch_form(stale)).status_code == 409
    assert len(touches_of(app, lead_id)) == 1


@pytest.mark.parametrize(("who", "status"), [("guangzhou_rep", 404), ("beijing_rep", 404), ("distributor", 403)])
def test_who_may_not_log_a_touch(app, people, who, status):
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people[who])
    assert client.get(f"/leads/{lead_id}/touches/new").status_code == status
    response = send(client, f"/leads/{lead_id}/touches/new", touch_form(get_lead(app, lead_id).version))
    assert response.status_code == status
    assert touches_of(app, lead_id) == []


def test_a_manager_may_log_a_touch(app, people):
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["manager"])
    assert send(client, f"/leads/{lead_id}/touches/new", touch_form(get_lead(app, lead_id).version)).status_code == 303
    assert get_lead(app, lead_id).state == "contacted"


# -- scripts beside the form -------------------------------------------------------------


def test_the_scripts_shown_are_the_active_ones_for_the_leads_products_or_general(app, people):
    wanted, other = gen_product(app, name="头孢克肟片"), gen_product(app, name="阿莫西林胶囊")
    with app.app_context():
        db.session.add_all(
            [
                Script(objection="价格比竞品高", answer="讲终端毛利和学术支持"),
                Script(product_id=wanted, objection="头孢医院进不去", answer="先做基层和药店"),
                Script(product_id=other, objection="阿莫西林利润薄", answer="不该出现"),
                Script(objection="已经停用的话术", answer="不该出现", active=False),
            ]
        )
        db.session.commit()
    lead_id = gen_lead(app, people["rep"].id, product_ids=[wanted])
    page = text(signed_in(app, people["rep"]).get(f"/leads/{lead_id}/touches/new"))
    scripts = page[page.index('data-testid="scripts"') :]
    assert "价格比竞品高" in scripts
    assert "头孢医院进不去" in scripts
    assert "不该出现" not in scripts


# -- photos --------------------------------------------------------------------------


def upload(content: bytes, filename: str):
    return (io.BytesIO(content), filename)


@pytest.mark.parametrize(
    ("content", "extension", "mimetype"),
    [(PNG, "png", "image/png"), (JPEG, "jpg", "image/jpeg"), (WEBP, "webp", "image/webp")],
)
def test_a_photo_is_stored_under_a_server_name_and_shown_to_who_may_see_the_lead(
    app, people, content, extension, mimetype
):
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["rep"])
    data = touch_form(get_lead(app, lead_id).version, photo=upload(content, "门头照 2026.PNG"))
    response = send(client, f"/leads/{lead_id}/touches/new", data, content_type="multipart/form-data")
    assert response.status_code == 303, text(response)
    [touch] = touches_of(app, lead_id)
    assert touch.photo_name.endswith(f".{extension}")
    assert "门头照" not in touch.photo_name
    assert (photo_dir(app) / touch.photo_name).read_bytes() == content

    url = f"/leads/{lead_id}/touches/{touch.id}/photo"
    assert f'src="{url}"' in text(client.get(f"/leads/{lead_id}"))
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.data == content
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for who, status in (
        ("manager", 200),
        ("service", 200),
        ("guangzhou_rep", 404),
        ("beijing_rep", 404),
        ("distributor", 403),
    ):
        assert signed_in(app, people[who]).get(url).status_code == status, who
    # The photo of a touch is only reachable through its own lead.
    other_lead = gen_lead(app, people["rep"].id)
    assert client.get(f"/leads/{other_lead}/touches/{touch.id}/photo").status_code == 404


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (EXE, "photo.jpg"),
        (EXE, "photo.exe"),
        (b"GIF89a" + b"\x00" * 50, "anim.gif"),
        (b"<svg onload=alert(1)>", "x.png"),
    ],
)
def test_a_file_that_is_not_a_photo_is_refused_whatever_its_name(app, people, content, filename):
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["rep"])
    data = touch_form(get_lead(app, lead_id).version, photo=upload(content, filename))
    response = send(client, f"/leads/{lead_id}/touches/new", data, content_type="multipart/form-data")
    assert response.status_code == 200
    assert "alert-danger" in text(response)
    assert touches_of(app, lead_id) == []
    assert get_lead(app, lead_id).state == "new"
    with app.app_context():
        assert db.session.scalar(select(func.count(Touch.id))) == 0


def test_nothing_is_written_for_a_refused_photo(app, people):
    lead_id = gen_lead(app, people["rep"].id)
    before = stored_photos(app)
    client = signed_in(app, people["rep"])
    data = touch_form(get_lead(app, lead_id).version, photo=upload(EXE, "photo.jpg"))
    send(client, f"/leads/{lead_id}/touches/new", data, content_type="multipart/form-data")
    assert stored_photos(app) == before


def test_an_oversized_photo_is_refused(app, people, monkeypatch):
    monkeypatch.setitem(app.config, "TOUCH_PHOTO_MAX_BYTES", 1024)
    lead_id = gen_lead(app, people["rep"].id)
    before = stored_photos(app)
    client = signed_in(app, people["rep"])
    data = touch_form(get_lead(app, lead_id).version, photo=upload(PNG + b"\x00" * 2000, "big.png"))
    response = send(client, f"/leads/{lead_id}/touches/new", data, content_type="multipart/form-data")
    assert response.status_code == 200
    assert "alert-danger" in text(response)
    assert touches_of(app, lead_id) == []
    assert stored_photos(app) == before

    small = touch_form(get_lead(app, lead_id).version, photo=upload(PNG, "small.png"))
    assert send(client, f"/leads/{lead_id}/touches/new", small, content_type="multipart/form-data").status_code == 303


def test_a_path_in_the_file_name_is_harmless(app, people):
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["rep"])
    name = "../../../crm.sqlite3.png"
    data = touch_form(get_lead(app, lead_id).version, photo=upload(PNG, name))
    assert send(client, f"/leads/{lead_id}/touches/new", data, content_type="multipart/form-data").status_code == 303
    [touch] = touches_of(app, lead_id)
    assert "/" not in touch.photo_name
    assert ".." not in touch.photo_name
    assert (photo_dir(app) / touch.photo_name).is_file()
    assert not (Path(app.instance_path) / "crm.sqlite3.png").exists()
    assert not (photo_dir(app).parent.parent.parent / "crm.sqlite3.png").exists()


def test_the_touch_clock_counts_from_the_touch(app, people):
    """The five working days restart at the touch, not at the last state change."""
    lead_id = gen_lead(app, people["rep"].id, events=["contact", "follow"], now=LONG_AGO)
    client = signed_in(app, people["rep"])
    send(client, f"/leads/{lead_id}/touches/new", touch_form(get_lead(app, lead_id).version))
    lead = get_lead(app, lead_id)
    assert lead.sla_due_at > lead.last_touch_at
