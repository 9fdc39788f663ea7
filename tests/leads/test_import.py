"""Importing trade-show and phone lists: messy files, the exact per-row report, all or nothing, background jobs."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import threading
from datetime import timedelta

import pytest
from flask_babel import force_locale
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, update

from crm.access.roles import Role
from crm.auth.models import User
from crm.common.phones import normalize_phone
from crm.common.time import utcnow
from crm.extensions import db
from crm.leads import importer
from crm.leads.importer import fast_initials, fast_phone, guess_mapping, import_plan, plan_import, split_phones
from crm.leads.imports_models import ImportStatus, LeadImport
from crm.leads.models import Campaign, Channel, ContactPhone, Lead, LeadContact
from crm.leads.services import ContactInput, create_lead, find_duplicates, pinyin_initials
from crm.workflow.models import WorkflowHistory
from tests.helpers import csrf_token, login, valid_uscc

HEADER = ["企业名称", "联系人", "手机/电话", "统一社会信用代码", "所在地区", "备注"]


def write_csv(path, rows, header=HEADER, encoding="utf-8"):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


@pytest.fixture
def campaign_id(app):
    with app.app_context():
        campaign = Campaign(name="2026 成都药交会", channel=Channel.TRADE_SHOW)
        db.session.add(campaign)
        db.session.commit()
        return campaign.id


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN)


def counts() -> tuple[int, int, int, int]:
    return (
        db.session.scalar(select(func.count(Lead.id))),
        db.session.scalar(select(func.count(LeadContact.id))),
        db.session.scalar(select(func.count(ContactPhone.id))),
        db.session.scalar(select(func.count(WorkflowHistory.id))),
    )


def report(plan):
    return [(i.row, i.column, i.message, "error" if i.error else "warning") for i in plan.issues]


BAD_USCC = "91440300MA5ABCDE1X"
NOT_A_PHONE = "is not a valid phone number: give a mobile, or a landline with its area code."


@pytest.fixture
def messy_csv(tmp_path):
    good = valid_uscc(7)
    rows = [
        ["深圳市南山康源医药有限公司", "张伟", "138 0013 8000", good, "广东省深圳市南山区", "展位A12"],
        ["", "", "", "", "", ""],  # blank row: skipped silently
        ["广州白云百草堂药业有限公司", "李娜", "+86-139-0013-9000 / 0755-8600 1234", "", "广州 白云", ""],
        ["东莞健民医药", "王强", "１３７００１３７０００", "", "东莞市", ""],
        ["佛山禅城新药房", "赵敏", "123", "", "佛山禅城", ""],  # row 6: bad phone
        ["珠海香洲医疗器械", "钱芳", "13600136000", BAD_USCC, "珠海市香洲区", ""],  # row 7: bad USCC
        ["深圳市南山康源医药（有限公司）", "张伟", "13500135000", "", "深圳南山区", ""],  # row 8: same name as row 2
        ["汕头金平医药", "孙丽", "13800138000, 13400134000", "", "汕头金平", ""],  # row 9: same phone as row 2
        ["", "周杰", "13300133000", "", "深圳", ""],  # row 10: no company
        ["火星医药", "吴刚", "13200132000", "", "火星基地", ""],  # row 11: unknown place
        ["", "", "", "", "", ""],
    ]
    return write_csv(tmp_path / "展会名单.csv", rows)


def test_headers_are_guessed_in_chinese_and_english():
    assert guess_mapping(HEADER) == {
        "company_name": 0,
        "contact": 1,
        "phone": 2,
        "uscc": 3,
        "region": 4,
        "notes": 5,
    }
    assert guess_mapping(["Company", "Contact", "Mobile", "USCC", "Province", "City", "County", "Products"]) == {
        "company_name": 0,
        "contact": 1,
        "phone": 2,
        "uscc": 3,
        "province": 4,
        "city": 5,
        "county": 6,
        "products": 7,
    }


@pytest.mark.parametrize(
    ("cell", "numbers", "bad"),
    [
        ("138 0013 8000", ["+8613800138000"], []),
        ("+86-138-0013-8000", ["+8613800138000"], []),
        ("１３８００１３８０００", ["+8613800138000"], []),
        ("0755-8600 1234", ["+8675586001234"], []),
        ("13800138000 13900139000", ["+8613800138000", "+8613900139000"], []),
        ("138 0013 8000 0755 8600 1234", ["+8613800138000", "+8675586001234"], []),
        ("13800138000、13900139000；13700137000", ["+8613800138000", "+8613900139000", "+8613700137000"], []),
        ("13800138000/123", ["+8613800138000"], ["123"]),
        ("13800138000,13800138000", ["+8613800138000"], []),
        # Remarks in brackets go; bracketed digits are an area code.
        ("13800138000（微信同号）", ["+8613800138000"], []),
        ("(0755)8600 1234（办公室）/13900139000【张总】", ["+8675586001234", "+8613900139000"], []),
        # A switchboard's extension is not part of the number (phone_extensions reports it).
        ("0755-86001234转806", ["+8675586001234"], []),
        ("0755 8600 1234 分机 12, 13800138000", ["+8675586001234", "+8613800138000"], []),
        ("0755-8600 1234 ext. 9", ["+8675586001234"], []),
    ],
)
def test_phone_cells_with_several_numbers_in_mixed_formats(cell, numbers, bad):
    import unicodedata

    assert split_phones(unicodedata.normalize("NFKC", cell)) == (numbers, bad)


def test_an_extension_is_reported_as_not_kept(app, admin, tmp_path):
    path = write_csv(tmp_path / "ext.csv", [["深圳福田医药有限公司", "黄磊", "0755-86001234转806", "", "深圳福田", ""]])
    with app.app_context():
        plan = plan_import(path, guess_mapping(HEADER), db.session.get(User, admin.id))
        assert [r.phones for r in plan.rows] == [["+8675586001234"]]
        assert report(plan) == [(2, "手机/电话", "分机号 806 未保存：只保存了它前面的号码。", "warning")]
    assert importer.phone_extensions("0755 8600 1234 分机 12, 13800138000 x 3") == ["12", "3"]


def test_the_mobile_shortcut_agrees_with_phonenumbers():
    samples = [f"1{p}{n:08d}" for p in range(30, 100) for n in (0, 12345678, 99999999)]
    samples += ["+86 138 0013 8000", "008613800138000", "14012345678", "19212345678", "0755 86001234"]
    samples += [
        f"0{area}-{n}" for area in (10, 20, 21, 755, 769, 757, 898, 371, 1234) for n in (2345678, 86001234, 123)
    ]
    samples += ["0755-0600 1234", "010 1234 5678", "0106512345", "075512345678901", "02012345678"]
    for sample in samples:
        assert fast_phone(sample) == normalize_phone(sample), sample


def test_fast_initials_agree_with_pypinyin():
    names = [
        "北京同仁堂医药有限公司",
        "长沙重行乐药业",
        "深圳市南山康源医药",
        "ABC 医药 2号店",
        "广州白云百草堂",
        "厦门银行大药房",
        "重庆长江和平医药",
        "广州行知药业",
        "佛山乐从大药房",
        "Ｈ＆Ｋ 医疗（香港）",
        "长春藏药行",
    ]
    for name in names:
        assert fast_initials(name) == pinyin_initials(name), name


def test_dry_run_reports_each_row_exactly_and_writes_nothing(app, admin, messy_csv, campaign_id):
    with app.test_request_context(), force_locale("en"):
        actor = db.session.get(User, admin.id)
        before = counts()
        plan = plan_import(messy_csv, guess_mapping(HEADER), actor)
        assert report(plan) == [
            (
                6,
                "手机/电话",
                "“123” is not a valid phone number: give a mobile, or a landline with its area code.",
                "error",
            ),
            (7, "统一社会信用代码", f"The unified social credit code {BAD_USCC} is not valid.", "error"),
            (8, "企业名称", "same company name as row 2", "warning"),
            (9, "手机/电话", "same phone number as row 2", "warning"),
            (10, "企业名称", "Enter the company name.", "error"),
            (11, "所在地区", "“火星基地” is not in the territory list.", "error"),
        ]
        assert plan.issues[0].text() == (
            "Row 6, 手机/电话: “123” is not a valid phone number: give a mobile, or a landline with its area code."
        )
        assert plan.summary() == {"new": 4, "duplicates": 1, "similar": 1, "errors": 4, "blank": 2}
        by_row = {r.row: r for r in plan.rows}
        assert by_row[2].territory_code == "440305"
        assert by_row[4].territory_code == "440111"  # 广州 白云 → 白云区
        assert by_row[4].phones == ["+8613900139000", "+8675586001234"]
        assert by_row[5].phones == ["+8613700137000"]  # full-width digits
        assert by_row[5].territory_code == "441900"
        assert by_row[8].territory_code == "440305"
        assert counts() == before


def test_import_creates_leads_with_owner_state_sla_and_history(app, admin, make_user, messy_csv, campaign_id):
    rep = make_user(Role.REP, territories=["440305"])
    with app.app_context():
        actor = db.session.get(User, admin.id)
        plan = plan_import(messy_csv, guess_mapping(HEADER), actor)
        # Row 9 (row 2's phone) is skipped; row 8 (only row 2's name) is a new lead unless the user says otherwise.
        assert import_plan(plan, actor, campaign_id) == 4
        db.session.commit()
        leads = {lead.company_name: lead for lead in db.session.scalars(select(Lead))}
        assert sorted(leads) == sorted(
            ["东莞健民医药", "广州白云百草堂药业有限公司", "深圳市南山康源医药有限公司", "深圳市南山康源医药(有限公司)"]
        )
        nanshan = leads["深圳市南山康源医药有限公司"]
        assert (nanshan.state, nanshan.assignee_id, nanshan.in_pool) == ("new", rep.id, False)
        assert nanshan.sla_status == "ok"
        assert nanshan.sla_due_at is not None
        assert nanshan.name_initials == pinyin_initials(nanshan.company_name)
        assert nanshan.created_at == nanshan.state_entered_at  # datetimes read back as written
        assert nanshan.sla_due_at > nanshan.created_at
        assert [c.name for c in nanshan.contacts] == ["张伟"]
        assert [p.e164 for p in nanshan.contacts[0].phones] == ["+8613800138000"]
        assert leads["东莞健民医药"].in_pool  # nobody covers 东莞
        history = db.session.execute(
            select(
                WorkflowHistory.event, WorkflowHistory.to_state, WorkflowHistory.actor_id, WorkflowHistory.comment
            ).where(WorkflowHistory.record_id == nanshan.id, WorkflowHistory.workflow == "leads")
        ).all()
        assert history == [("create", "new", admin.id, "展位A12")]


def test_duplicates_can_be_included(app, admin, messy_csv, campaign_id):
    with app.app_context():
        actor = db.session.get(User, admin.id)
        plan = plan_import(messy_csv, guess_mapping(HEADER), actor)
        assert import_plan(plan, actor, campaign_id, include_duplicates=True) == 5
        db.session.commit()


def test_duplicates_against_existing_leads_name_the_lead(app, admin, tmp_path, campaign_id):
    with app.test_request_context(), force_locale("en"):
        actor = db.session.get(User, admin.id)
        existing = create_lead(
            actor,
            company_name="惠州惠城医药有限公司",
            territory_code="441302",
            campaign_id=campaign_id,
            contacts=[ContactInput("陈静", phones=["13100131000"])],
        )
        db.session.commit()
        path = write_csv(
            tmp_path / "list.csv",
            [
                ["惠州惠城医药", "陈静", "131 0013 1000", "", "惠州市惠城区", ""],
                ["另一家医药", "刘洋", "13100131000", "", "惠州 惠城", ""],
            ],
        )
        plan = plan_import(path, guess_mapping(HEADER), actor)
        expected = f"looks like existing lead #{existing.id} 惠州惠城医药有限公司"
        assert report(plan) == [
            (2, "手机/电话", f"{expected} (same phone number)", "warning"),
            (2, "企业名称", f"{expected} (same company name)", "warning"),
            (3, "手机/电话", "same phone number as row 2", "warning"),
            (3, "手机/电话", f"{expected} (same phone number)", "warning"),
        ]
        # The bulk check finds what find_duplicates finds, row by row.
        for row in plan.rows:
            assert row.duplicate == bool(
                find_duplicates(company_name=row.company_name, uscc=row.uscc, phones=row.phones)
            )
        assert plan.summary()["duplicates"] == 2


def test_gbk_csv_and_xlsx_read_the_same(app, admin, tmp_path):
    rows = [
        ["深圳福田医药有限公司", "黄磊", "13800138001", "", "广东省 深圳市 福田区", "老客户介绍"],
        ["", None, None, None, None, None],
        ["广州天河药业", "林峰", 13900139001, "", "广州天河", ""],
    ]
    gbk = write_csv(tmp_path / "gbk.csv", [[c or "" for c in r] for r in rows], encoding="gbk")
    bom = write_csv(tmp_path / "bom.csv", [[c or "" for c in r] for r in rows], encoding="utf-8-sig")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    xlsx = tmp_path / "list.xlsx"
    workbook.save(xlsx)
    with app.app_context():
        actor = db.session.get(User, admin.id)
        results = []
        for path in (gbk, bom, xlsx):
            headers, _rows = importer.read_table(path)
            assert headers == HEADER
            plan = plan_import(path, guess_mapping(headers), actor)
            results.append([(r.row, r.company_name, r.phones, r.territory_code, r.notes) for r in plan.rows])
        assert results[0] == results[1] == results[2]
        assert results[0] == [
            (2, "深圳福田医药有限公司", ["+8613800138001"], "440304", "老客户介绍"),
            (4, "广州天河药业", ["+8613900139001"], "440106", None),
        ]


def _delimited(rows, delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows([HEADER, *rows])
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "encode"),
    [
        # Excel's "Unicode text": UTF-16 with its byte-order mark, tab-separated.
        ("unicode-text.csv", lambda rows: _delimited(rows, "\t").encode("utf-16")),
        # A European-locale Excel separates with semicolons.
        ("semicolons.csv", lambda rows: _delimited(rows, ";").encode("utf-8-sig")),
        # A broken export padded cells with NUL characters.
        ("nul-padded.csv", lambda rows: _delimited([[c + "\x00" if c else c for c in r] for r in rows], ",").encode()),
    ],
)
def test_other_ways_excel_saves_a_list_read_the_same(app, admin, tmp_path, name, encode):
    rows = [["深圳福田医药有限公司", "黄磊", "13800138001", "", "广东省 深圳市 福田区", "老客户介绍"]]
    path = tmp_path / name
    path.write_bytes(encode(rows))
    with app.app_context():
        headers, _rows = importer.read_table(path)
        assert headers == HEADER
        plan = plan_import(path, guess_mapping(headers), db.session.get(User, admin.id))
        assert [(r.row, r.company_name, r.phones, r.territory_code, r.notes) for r in plan.rows] == [
            (2, "深圳福田医药有限公司", ["+8613800138001"], "440304", "老客户介绍")
        ]
        assert plan.issues == []


def test_a_truncated_utf16_file_is_refused_with_a_message(app, admin, tmp_path):
    path = tmp_path / "cut.csv"
    path.write_bytes("企业名称\t电话\n".encode("utf-16")[:-1])
    with app.app_context(), pytest.raises(importer.ImportFileError, match="GBK"):
        importer.read_table(path)


def test_a_failure_mid_way_leaves_the_database_unchanged(app, admin, tmp_path, campaign_id, monkeypatch):
    rows = [[f"测试医药{i}有限公司", f"联系人{i}", f"1380000{i:04d}", "", "深圳南山", ""] for i in range(30)]
    path = write_csv(tmp_path / "big.csv", rows)
    monkeypatch.setattr(importer, "BATCH", 10)
    real_insert = importer.engine.start_many
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full on row 21")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(importer.engine, "start_many", failing)
    with app.app_context():
        actor = db.session.get(User, admin.id)
        before = counts()
        plan = plan_import(path, guess_mapping(HEADER), actor)
        with pytest.raises(RuntimeError):
            import_plan(plan, actor, campaign_id)
        db.session.rollback()
        assert counts() == before


def test_owners_follow_pick_owner_round_robin(app, admin, make_user, tmp_path, campaign_id):
    first = make_user(Role.REP, territories=["440305"])
    second = make_user(Role.REP, territories=["440305"])
    manager = make_user(Role.MANAGER, territories=["440000"])
    rows = [[f"轮换医药{i}", "某人", "", "", "深圳南山" if i < 4 else "广东 韶关", ""] for i in range(6)]
    path = write_csv(tmp_path / "rr.csv", rows)
    with app.app_context():
        actor = db.session.get(User, admin.id)
        import_plan(plan_import(path, guess_mapping(HEADER), actor), actor, campaign_id)
        db.session.commit()
        owners = list(db.session.scalars(select(Lead.assignee_id).order_by(Lead.id)))
    assert owners == [first.id, second.id, first.id, second.id, manager.id, manager.id]


def test_reps_import_only_into_their_territories(app, make_user, tmp_path, campaign_id):
    rep = make_user(Role.REP, territories=["440300"])
    path = write_csv(
        tmp_path / "rep.csv",
        [
            ["南山新药", "甲", "13800138002", "", "南山区", ""],  # 南山区 exists twice (深圳, 鹤岗): the rep's wins
            ["广州越秀药房", "乙", "13800138003", "", "广州越秀", ""],
        ],
    )
    with app.test_request_context(), force_locale("en"):
        actor = db.session.get(User, rep.id)
        plan = plan_import(path, guess_mapping(HEADER), actor)
        assert report(plan) == [(3, "所在地区", "广东省 广州市 越秀区 is outside your territories.", "error")]
        assert import_plan(plan, actor, campaign_id) == 1
        db.session.commit()
        lead = db.session.scalars(select(Lead)).one()
        assert (lead.territory_code, lead.assignee_id) == ("440305", rep.id)


# --- pages and the background job ---


def upload(client, path, campaign_id):
    with open(path, "rb") as fh:
        return client.post(
            "/leads/import",
            data={"file": (fh, path.name), "campaign_id": str(campaign_id), "csrf_token": csrf_token(client)},
            content_type="multipart/form-data",
        )


def test_small_file_through_the_pages(app, client, admin, messy_csv, campaign_id):
    login(client, admin)
    response = upload(client, messy_csv, campaign_id)
    assert response.status_code == 302
    mapping_url = response.headers["Location"]
    page = client.get(mapping_url).get_data(as_text=True)
    assert "所在地区" in page
    job_id = int(re.search(r"/import/(\d+)/", mapping_url).group(1))
    data = {"csrf_token": csrf_token(client)}
    data.update({f"map_{k}": str(v) for k, v in guess_mapping(HEADER).items()})
    response = client.post(mapping_url, data=data)
    assert response.status_code == 302
    preview = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "展会名单.csv" in preview
    assert "123" in preview
    response = client.post(f"/leads/import/{job_id}/run", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    with app.app_context():
        job = db.session.get(LeadImport, job_id)
        assert (job.status, job.imported_count) == (ImportStatus.DONE, 4)
        assert db.session.scalar(select(func.count(Lead.id))) == 4
    assert client.get(f"/leads/import/{job_id}/progress").status_code == 200


def test_large_file_waits_for_the_scheduler_and_completes(app, client, admin, tmp_path, campaign_id, monkeypatch):
    monkeypatch.setitem(app.config, "LEAD_IMPORT_BACKGROUND_ROWS", 5)
    rows = [[f"后台医药{i}", f"人{i}", f"1390000{i:04d}", "", "深圳 福田", ""] for i in range(12)]
    path = write_csv(tmp_path / "large.csv", rows)
    login(client, admin)
    mapping_url = upload(client, path, campaign_id).headers["Location"]
    job_id = int(re.search(r"/import/(\d+)/", mapping_url).group(1))
    data = {"csrf_token": csrf_token(client), **{f"map_{k}": str(v) for k, v in guess_mapping(HEADER).items()}}
    # The dry run of a large file runs in the scheduler too; the page waits for it.
    assert client.post(mapping_url, data=data).headers["Location"] == f"/leads/import/{job_id}"
    with app.app_context():
        assert db.session.get(LeadImport, job_id).status == ImportStatus.DRY_RUN_QUEUED
    assert f'hx-get="/leads/import/{job_id}/progress"' in client.get(f"/leads/import/{job_id}").get_data(as_text=True)
    with app.app_context():
        assert importer.run_queued_imports() == f"#{job_id}: checked"
        assert db.session.get(LeadImport, job_id).status == ImportStatus.PREVIEWED
    polled = client.get(f"/leads/import/{job_id}/progress", headers={"HX-Request": "true"})
    assert polled.headers["HX-Redirect"] == f"/leads/import/{job_id}/preview"
    assert "12" in client.get(f"/leads/import/{job_id}/preview").get_data(as_text=True)
    response = client.post(f"/leads/import/{job_id}/run", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(LeadImport, job_id).status == ImportStatus.QUEUED
        assert db.session.scalar(select(func.count(Lead.id))) == 0
    page = client.get(f"/leads/import/{job_id}").get_data(as_text=True)
    assert f'hx-get="/leads/import/{job_id}/progress"' in page
    seen = []
    monkeypatch.setattr(importer, "BATCH", 5)
    real = importer._progress_writer

    def spy(job_id_, file):
        write = real(job_id_, file)

        def record(done, total):
            write(done, total)
            seen.append((done, total))

        return record

    monkeypatch.setattr(importer, "_progress_writer", spy)
    with app.app_context():
        assert importer.run_queued_imports() == f"#{job_id}: 12 leads"
        assert importer.run_queued_imports() is None  # idle: nothing to log
        job = db.session.get(LeadImport, job_id)
        assert (job.status, job.imported_count, job.percent) == (ImportStatus.DONE, 12, 100)
    assert seen == [(5, 12), (10, 12), (12, 12)]
    fragment = client.get(f"/leads/import/{job_id}/progress").get_data(as_text=True)
    assert "12" in fragment
    assert "hx-get" not in fragment


def test_distributors_and_service_may_not_import(app, client, make_user):
    for role in (Role.DISTRIBUTOR, Role.SERVICE):
        user = make_user(role)
        login(client, user)
        assert client.get("/leads/import").status_code == 403
        client.post("/auth/logout", data={"csrf_token": csrf_token(client)})


def test_another_users_import_answers_404(app, client, make_user, messy_csv, campaign_id):
    owner = make_user(Role.REP, territories=["440300"])
    other = make_user(Role.REP, territories=["440300"])
    login(client, owner)
    mapping_url = upload(client, messy_csv, campaign_id).headers["Location"]
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    login(client, other)
    assert client.get(mapping_url).status_code == 404


def test_uploads_over_the_size_cap_are_refused_and_not_kept(app, client, admin, messy_csv, campaign_id, monkeypatch):
    monkeypatch.setitem(app.config, "LEAD_IMPORT_MAX_BYTES", 100)
    with app.app_context():
        stored = set(importer.imports_dir().iterdir())
    login(client, admin)
    response = upload(client, messy_csv, campaign_id)
    assert response.status_code == 200
    assert "1 MB" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(LeadImport.id))) == 0
        assert set(importer.imports_dir().iterdir()) == stored


def test_only_csv_and_xlsx_are_accepted(app, client, admin, tmp_path, campaign_id):
    login(client, admin)
    path = tmp_path / "list.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0 old excel")
    response = upload(client, path, campaign_id)
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count(LeadImport.id))) == 0


def test_an_unreadable_workbook_is_refused_and_not_kept(app, client, admin, tmp_path, campaign_id):
    with app.app_context():
        stored = set(importer.imports_dir().iterdir())
    login(client, admin)
    path = tmp_path / "展会名录.xlsx"
    path.write_bytes(b"MZ\x90\0 a program renamed to .xlsx")
    response = upload(client, path, campaign_id)
    assert response.status_code == 200
    assert "无法读取该 XLSX 文件" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(LeadImport.id))) == 0
        assert set(importer.imports_dir().iterdir()) == stored


# --- recovering imports whose process died, and deleting files no import needs ---

STALE = timedelta(minutes=15)  # LEAD_IMPORT_STALE_MINUTES' default


def stored_job(app, admin_id, campaign_id, *, status=ImportStatus.QUEUED, rows=3, created_at=None) -> tuple[int, str]:
    """(id, file name) of an import whose file is stored under instance/imports/, in ``status``."""
    with app.app_context():
        name = f"{secrets.token_hex(16)}.csv"
        lines = [[f"恢复医药{i}", f"人{i}", f"1370000{i:04d}", "", "深圳 福田", ""] for i in range(rows)]
        write_csv(importer.imports_dir() / name, lines)
        job = LeadImport(
            file_name=name,
            original_name="名单.csv",
            status=status,
            campaign_id=campaign_id,
            created_by_id=admin_id,
            mapping_json=json.dumps(guess_mapping(HEADER)),
            total_rows=rows,
            report_json=json.dumps({"new": rows, "issues": []}),
        )
        if created_at is not None:
            job.created_at = created_at
        db.session.add(job)
        db.session.commit()
        return job.id, name


def job_state(app, job_id):
    with app.app_context():
        job = db.session.get(LeadImport, job_id)
        return job.status, job.attempts


def upload_exists(app, name) -> bool:
    with app.app_context():
        return (importer.imports_dir() / name).exists()


def test_a_stalled_import_is_queued_again_once_and_then_completes(app, admin, campaign_id):
    job_id, name = stored_job(app, admin.id, campaign_id)
    with app.app_context():
        started = utcnow()
        assert importer.claim_next_job(now=started).id == job_id  # …and its process dies here
        assert importer.recover_stalled_imports(now=started + STALE - timedelta(minutes=1)) == []
    assert job_state(app, job_id) == (ImportStatus.RUNNING, 1)
    with app.app_context():
        assert importer.recover_stalled_imports(now=started + STALE + timedelta(minutes=1)) == [
            f"#{job_id}: stalled, queued again"
        ]
        assert db.session.get(LeadImport, job_id).processed_rows == 0
    assert job_state(app, job_id) == (ImportStatus.QUEUED, 1)
    assert upload_exists(app, name)  # the next run needs it
    with app.app_context():
        assert importer.run_queued_imports() == f"#{job_id}: 3 leads"
        job = db.session.get(LeadImport, job_id)
        assert (job.status, job.attempts, job.imported_count) == (ImportStatus.DONE, 2, 3)
        assert job.report["new"] == 3  # the report stays in the database…
        assert db.session.scalar(select(func.count(Lead.id))) == 3
    assert not upload_exists(app, name)  # …the file does not


def test_an_import_stalled_twice_fails_and_its_page_says_so(app, client, admin, campaign_id):
    job_id, name = stored_job(app, admin.id, campaign_id)
    with app.app_context():
        first = utcnow() - timedelta(hours=1)
        importer.claim_next_job(now=first)
        assert importer.recover_stalled_imports(now=first + STALE * 2) == [f"#{job_id}: stalled, queued again"]
        second = first + STALE * 3
        importer.claim_next_job(now=second)
        assert importer.recover_stalled_imports(now=second + STALE * 2) == [f"#{job_id}: stalled, failed"]
        assert importer.recover_stalled_imports(now=second + STALE * 4) == []  # once failed, left alone
        assert importer.claim_next_job() is None
        job = db.session.get(LeadImport, job_id)
        assert (job.status, job.attempts, job.finished_at) == (ImportStatus.FAILED, 2, second + STALE * 2)
        assert job.error_message == "导入中断，请重新上传。"  # written by the scheduler, in the default language
        with app.test_request_context(), force_locale("en"):
            assert importer._("The import was interrupted. Upload the file again.") != job.error_message
    assert not upload_exists(app, name)
    login(client, admin)
    page = client.get(f"/leads/import/{job_id}").get_data(as_text=True)
    assert "导入中断，请重新上传" in page
    assert "hx-get" not in page  # no longer polling


def test_progress_keeps_a_long_import_from_being_taken_for_dead(app, admin, campaign_id):
    job_id, _name = stored_job(app, admin.id, campaign_id)
    with app.app_context():
        claimed = utcnow() - STALE * 2
        job = importer.claim_next_job(now=claimed)
        importer._progress_writer(job_id, importer._progress_file(job))(1, 3)  # a heartbeat, just now
        db.session.commit()
        assert importer.recover_stalled_imports(now=utcnow() + timedelta(minutes=1)) == []
        assert importer.recover_stalled_imports(now=utcnow() + STALE + timedelta(minutes=1)) == [
            f"#{job_id}: stalled, queued again"
        ]
        assert not importer._progress_file(job).exists()


def test_two_recovery_runs_at_once_queue_a_stalled_import_once(app, admin, campaign_id, monkeypatch):
    job_id, _name = stored_job(app, admin.id, campaign_id)
    with app.app_context():
        started = utcnow()
        importer.claim_next_job(now=started)
    # Both runs see the import stalled before either changes it: the worst interleaving.
    both_read = threading.Barrier(2, timeout=10)
    read_stalled = importer._stalled_imports

    def stalled_then_wait(cutoff):
        found = read_stalled(cutoff)
        both_read.wait()
        return found

    monkeypatch.setattr(importer, "_stalled_imports", stalled_then_wait)
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                results.append(importer.recover_stalled_imports(now=started + STALE * 2))
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sorted(results) == [[], [f"#{job_id}: stalled, queued again"]]
    assert job_state(app, job_id) == (ImportStatus.QUEUED, 1)


def test_a_run_taken_for_dead_keeps_nothing_when_it_finishes_after_all(app, admin, campaign_id, monkeypatch):
    job_id, name = stored_job(app, admin.id, campaign_id)
    real_plan = importer.plan_import

    def plan_then_lose_the_job(*args, **kwargs):
        # While this run is busy, another scheduler finds it stalled, queues it again and takes it.
        db.session.commit()
        with db.engine.begin() as connection:
            table = LeadImport.__table__
            connection.execute(update(table).where(table.c.id == job_id).values(attempts=table.c.attempts + 1))
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(importer, "plan_import", plan_then_lose_the_job)
    with app.app_context():
        job = importer.claim_next_job()
        actor = db.session.get(User, admin.id)
        with pytest.raises(importer.ImportTakenOver):
            importer.run_import_job(job, actor)
        assert db.session.scalar(select(func.count(Lead.id))) == 0
    assert job_state(app, job_id) == (ImportStatus.RUNNING, 2)  # the other run's, untouched
    assert upload_exists(app, name)


def test_files_go_when_their_import_ends_or_nobody_imports_them(app, client, admin, campaign_id):
    with app.app_context():
        now = utcnow()
    old_id, old_name = stored_job(
        app, admin.id, campaign_id, status=ImportStatus.PREVIEWED, created_at=now - timedelta(days=3)
    )
    _new_id, new_name = stored_job(app, admin.id, campaign_id, status=ImportStatus.UPLOADED, created_at=now)
    _queued_id, queued_name = stored_job(
        app, admin.id, campaign_id, status=ImportStatus.QUEUED, created_at=now - timedelta(days=30)
    )
    _done_id, done_name = stored_job(app, admin.id, campaign_id, status=ImportStatus.DONE, created_at=now)
    with app.app_context():
        stray = importer.imports_dir() / f"{secrets.token_hex(16)}.xlsx"  # saved, but its row never committed
        stray.write_bytes(b"PK")
        importer.sweep_import_files(now=now)
        assert not upload_exists(app, done_name)  # finished: gone at once
        assert all(upload_exists(app, n) for n in (old_name, new_name, queued_name))
        assert stray.exists()

        assert importer.sweep_import_files(now=now + timedelta(days=5))[0] == 1  # 8 days after its upload
        assert not upload_exists(app, old_name)
        assert all(upload_exists(app, n) for n in (new_name, queued_name))
        assert stray.exists()
        old = db.session.get(LeadImport, old_id)
        assert old.status == ImportStatus.FAILED
        assert old.report == {"new": 3, "issues": []}  # the row and its report stay

        assert importer.sweep_import_files(now=now + timedelta(days=8))[0] == 1
        assert not upload_exists(app, new_name)
        assert not stray.exists()
        assert upload_exists(app, queued_name)  # waiting for the scheduler: kept, however old
        assert db.session.scalar(select(func.count(LeadImport.id))) == 4
    login(client, admin)
    page = client.get(f"/leads/import/{old_id}").get_data(as_text=True)
    assert "7 天内未导入" in page
    assert client.get(f"/leads/import/{old_id}/mapping").status_code == 302  # no longer asks for the mapping


def test_the_import_job_recovers_and_sweeps_in_the_scheduler(app, admin, campaign_id):
    job_id, name = stored_job(app, admin.id, campaign_id)
    with app.app_context():
        importer.claim_next_job(now=utcnow() - STALE * 2)
        assert importer.run_queued_imports() == f"#{job_id}: stalled, queued again; #{job_id}: 3 leads"
    assert job_state(app, job_id) == (ImportStatus.DONE, 2)
    assert not upload_exists(app, name)


# --- look-alikes in other territories ---


def test_a_dry_run_names_nothing_of_a_look_alike_outside_the_importers_territories(
    app, client, make_user, tmp_path, campaign_id
):
    from crm.notify.models import Notification
    from crm.workflow import engine

    beijing_manager = make_user(Role.MANAGER, territories=["110000"])
    beijing_rep = make_user(Role.REP, territories=["110000"])
    rep = make_user(Role.REP, territories=["440300"])
    with app.app_context():
        lead = create_lead(
            db.session.get(User, beijing_rep.id),
            company_name="北京同仁医药有限公司",
            territory_code="110101",
            campaign_id=campaign_id,
            contacts=[ContactInput("陈静", phones=["13800138000"])],
        )
        for event in ("contact", "show_intent", "apply"):
            engine.apply_event(lead, event, db.session.get(User, beijing_rep.id), seen_version=lead.version)
        db.session.commit()
        existing = lead.id
    path = write_csv(
        tmp_path / "展会名单.csv",
        [
            ["深圳南山康源医药有限公司", "张伟", "138 0013 8000", "", "深圳南山", ""],  # the 北京 lead's phone
            ["北京同仁医药", "李娜", "13900139000", "", "深圳福田", ""],  # the 北京 lead's name
            ["深圳宝安新药房", "王强", "13700137000", "", "深圳宝安", ""],
        ],
    )
    login(client, rep)
    mapping_url = upload(client, path, campaign_id).headers["Location"]
    job_id = int(re.search(r"/import/(\d+)/", mapping_url).group(1))
    data = {"csrf_token": csrf_token(client), **{f"map_{k}": str(v) for k, v in guess_mapping(HEADER).items()}}

    def alerts():
        with app.app_context():
            return db.session.execute(
                select(Notification.user_id, Notification.record_id).where(
                    Notification.kind == "lead_duplicate_elsewhere"
                )
            ).all()

    assert client.post(mapping_url, data=data).headers["Location"] == f"/leads/import/{job_id}/preview"
    preview = client.get(f"/leads/import/{job_id}/preview")
    report = client.get(f"/leads/import/{job_id}/report.xlsx")
    assert report.status_code == 200
    with app.app_context():
        stored = db.session.get(LeadImport, job_id).report_json
    cells = [
        str(value)
        for row in load_workbook(io.BytesIO(report.data)).active.iter_rows(values_only=True)
        for value in row
        if value is not None
    ]
    told = "您负责的区域之外已有疑似相同企业的线索，已通知负责该区域的经理。"
    for name, text in (("preview", preview.get_data(as_text=True)), ("report", stored), ("xlsx", " ".join(cells))):
        for leak in (f"#{existing}", f"/leads/{existing}", f'"lead_id": {existing}', "北京同仁医药有限公司"):
            assert leak not in text, (name, leak)
        for leak in ("已申请", "Applied", "电话相同", "公司名称相同", "信用代码相同", "same phone", "same company"):
            assert leak not in text, (name, leak)
        assert text.count(told) == 2, name  # rows 2 and 3, once each
    # Which column matched is not said either: both rows name the whole row.
    assert [(i["row"], i["column"], i["message"], i["lead_id"]) for i in json.loads(stored)["issues"]] == [
        (2, "整行", told, None),
        (3, "整行", told, None),
    ]
    assert json.loads(stored)["duplicates"] == 2
    assert alerts() == [(beijing_manager.id, existing)]

    # A second dry run of the same list tells the managers nothing new.
    assert client.post(mapping_url, data=data).headers["Location"] == f"/leads/import/{job_id}/preview"
    assert alerts() == [(beijing_manager.id, existing)]


def test_the_same_name_with_different_credit_codes_is_two_companies(app, admin, tmp_path, campaign_id):
    first, second, third, fourth = (valid_uscc(n) for n in (301, 302, 303, 304))
    with app.test_request_context(), force_locale("en"):
        actor = db.session.get(User, admin.id)
        existing = create_lead(
            actor,
            company_name="国药控股医药有限公司",
            uscc=third,
            territory_code="440305",
            campaign_id=campaign_id,
        )
        db.session.commit()
        path = write_csv(
            tmp_path / "list.csv",
            [
                ["国药控股医药有限公司", "张伟", "13800138001", first, "深圳南山", ""],
                [
                    "国药控股医药有限公司",
                    "李娜",
                    "13800138002",
                    second,
                    "深圳福田",
                    "",
                ],  # another code: another company
                ["国药控股医药有限公司", "王强", "13800138003", "", "深圳宝安", ""],  # no code: may be either
                ["国药控股医药", "赵敏", "13800138004", fourth, "深圳罗湖", ""],  # the same name key
            ],
        )
        plan = plan_import(path, guess_mapping(HEADER), actor)
        assert report(plan) == [
            (4, "企业名称", "same company name as row 2", "warning"),
            (
                4,
                "企业名称",
                f"looks like existing lead #{existing.id} 国药控股医药有限公司 (same company name)",
                "warning",
            ),
            (5, "企业名称", "same company name as row 4", "warning"),  # row 4 has no code; vs the lead's, it differs
        ]
        assert [r.row for r in plan.rows if r.similar] == [4, 5]
        assert [r.row for r in plan.rows if r.duplicate] == []


def test_the_column_names_are_found_below_a_title_line_or_two(app, admin, tmp_path):
    rows = [
        ["深圳福田医药有限公司", "黄磊", "13800138001", "", "广东省 深圳市 福田区", ""],
        ["广州天河药业", "林峰", "13900139001", "", "广州天河", ""],
    ]
    titled_csv = tmp_path / "titled.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t")
    writer.writerow(["2026 成都药交会 参展商名单"])
    writer.writerow(["导出时间：2026-11-20", "", ""])
    writer.writerow(HEADER)
    writer.writerows(rows)
    titled_csv.write_text(buffer.getvalue(), encoding="utf-8")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["2026 成都药交会 参展商名单"])
    sheet.merge_cells("A1:F1")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    titled_xlsx = tmp_path / "titled.xlsx"
    workbook.save(titled_xlsx)
    with app.app_context():
        actor = db.session.get(User, admin.id)
        for path, header_row in ((titled_csv, 3), (titled_xlsx, 2)):
            headers, _rows = importer.read_table(path)
            assert headers == HEADER, path.name
            plan = plan_import(path, guess_mapping(headers), actor)
            # Rows keep the spreadsheet's numbers, so the report points at the right line.
            assert [(r.row, r.company_name) for r in plan.rows] == [
                (header_row + 1, "深圳福田医药有限公司"),
                (header_row + 2, "广州天河药业"),
            ]
            assert plan.issues == []


def test_a_phone_excel_shortened_to_1_38e10_says_how_to_keep_the_digits(app, admin, tmp_path):
    path = write_csv(tmp_path / "list.csv", [["深圳福田医药有限公司", "黄磊", "1.38E+10", "", "深圳福田", ""]])
    with app.app_context():
        plan = plan_import(path, guess_mapping(HEADER), db.session.get(User, admin.id))
    assert report(plan) == [
        (
            2,
            "手机/电话",
            "“1.38E+10”是被 Excel 缩写的数字，原号码已丢失：请在 Excel 中把电话列的格式设为“文本”，"
            "重新输入号码后保存文件。",
            "error",
        )
    ]


# --- flagged rows: each its own choice ---


def test_a_list_imported_again_adds_no_copies(app, admin, messy_csv, campaign_id):
    with app.app_context():
        actor = db.session.get(User, admin.id)
        first = import_plan(plan_import(messy_csv, guess_mapping(HEADER), actor), actor, campaign_id)
        db.session.commit()
        before = counts()
        again = plan_import(messy_csv, guess_mapping(HEADER), actor)
        assert again.summary()["new"] == 0  # every row has a phone already on a lead
        assert import_plan(again, actor, campaign_id) == 0
        db.session.commit()
        assert first == 4
        assert counts() == before


def test_each_flagged_row_is_skipped_imported_or_added_as_a_contact_as_chosen(
    app, client, make_user, tmp_path, campaign_id
):
    rep = make_user(Role.REP, territories=["440300"])
    beijing_rep = make_user(Role.REP, territories=["110000"])
    code = valid_uscc(401)
    with app.app_context():
        known = create_lead(
            db.session.get(User, rep.id),
            company_name="深圳南山康源医药有限公司",
            uscc=code,
            territory_code="440305",
            campaign_id=campaign_id,
            contacts=[ContactInput("张伟", phones=["13800138000"])],
        )
        elsewhere = create_lead(
            db.session.get(User, beijing_rep.id),
            company_name="北京同仁医药有限公司",
            territory_code="110101",
            campaign_id=campaign_id,
            contacts=[ContactInput("陈静", phones=["13100131000"])],
        )
        db.session.commit()
        known_id, elsewhere_id = known.id, elsewhere.id
    path = write_csv(
        tmp_path / "展会名单.csv",
        [
            ["深圳南山康源", "李娜", "13900139000", code, "深圳南山", ""],  # 2: same code, a second visitor
            ["深圳某医药", "张伟", "13800138000", "", "深圳南山", ""],  # 3: same phone: skipped by default
            ["深圳南山康源医药有限公司", "王强", "13700137000", "", "深圳南山", ""],  # 4: same name only
            ["深圳宝安新药房", "孙丽", "13500135000", "", "深圳宝安", ""],  # 5: new
            ["深圳南山康源医药", "赵敏", "13600136000", "", "深圳南山", ""],  # 6: same name only
            ["深圳福田医药", "周杰", "13100131000", "", "深圳福田", ""],  # 7: the 北京 lead's phone
        ],
    )
    login(client, rep)
    mapping_url = upload(client, path, campaign_id).headers["Location"]
    job_id = int(re.search(r"/import/(\d+)/", mapping_url).group(1))
    data = {"csrf_token": csrf_token(client), **{f"map_{k}": str(v) for k, v in guess_mapping(HEADER).items()}}
    client.post(mapping_url, data=data)
    page = client.get(f"/leads/import/{job_id}/preview").get_data(as_text=True)
    for row, default in (("2", "skip"), ("3", "skip"), ("4", "new"), ("6", "new"), ("7", "skip")):
        select_html = re.search(rf'name="choice_{row}".*?</select>', page, re.S).group(0)
        assert f'value="{default}" selected' in select_html, row
        assert ('value="contact"' in select_html) == (row != "7"), row  # never onto a lead out of reach
    assert "choice_5" not in page
    response = client.post(
        f"/leads/import/{job_id}/run",
        data={
            "csrf_token": csrf_token(client),
            "choice_2": "contact",
            "choice_3": "skip",
            "choice_4": "skip",
            "choice_6": "contact",
            "choice_7": "contact",  # not offered: the row takes its default
        },
    )
    assert response.status_code == 302
    flashed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已将 2 人添加为已有线索的联系人。" in flashed
    with app.app_context():
        job = db.session.get(LeadImport, job_id)
        assert (job.status, job.imported_count) == (ImportStatus.DONE, 1)
        assert list(db.session.scalars(select(Lead.company_name).where(Lead.id > elsewhere_id))) == ["深圳宝安新药房"]
        contacts = db.session.execute(
            select(LeadContact.name, ContactPhone.e164)
            .join(ContactPhone, ContactPhone.contact_id == LeadContact.id)
            .where(LeadContact.lead_id == known_id)
            .order_by(LeadContact.id)
        ).all()
        assert contacts == [("张伟", "+8613800138000"), ("李娜", "+8613900139000"), ("赵敏", "+8613600136000")]
        assert db.session.scalar(select(func.count(LeadContact.id)).where(LeadContact.lead_id == elsewhere_id)) == 1


def test_a_dry_run_in_the_scheduler_tells_the_managers_of_a_look_alike_elsewhere_too(
    app, client, make_user, tmp_path, campaign_id, monkeypatch
):
    from crm.notify.models import Notification

    monkeypatch.setitem(app.config, "LEAD_IMPORT_BACKGROUND_ROWS", 1)
    beijing_manager = make_user(Role.MANAGER, territories=["110000"])
    rep = make_user(Role.REP, territories=["440300"])
    with app.app_context():
        lead = create_lead(
            db.session.get(User, beijing_manager.id),
            company_name="北京同仁医药有限公司",
            territory_code="110101",
            campaign_id=campaign_id,
            contacts=[ContactInput("陈静", phones=["13800138000"])],
        )
        db.session.commit()
        existing = lead.id
    path = write_csv(
        tmp_path / "list.csv",
        [
            ["深圳南山康源医药", "张伟", "13800138000", "", "深圳南山", ""],
            ["深圳福田医药", "李娜", "13900139000", "", "深圳福田", ""],
        ],
    )
    login(client, rep)
    mapping_url = upload(client, path, campaign_id).headers["Location"]
    job_id = int(re.search(r"/import/(\d+)/", mapping_url).group(1))
    data = {"csrf_token": csrf_token(client), **{f"map_{k}": str(v) for k, v in guess_mapping(HEADER).items()}}
    assert client.post(mapping_url, data=data).headers["Location"] == f"/leads/import/{job_id}"
    with app.app_context():
        assert importer.run_queued_imports() == f"#{job_id}: checked"
        told = db.session.execute(
            select(Notification.user_id, Notification.record_id).where(Notification.kind == "lead_duplicate_elsewhere")
        ).all()
    assert told == [(beijing_manager.id, existing)]
    preview = client.get(f"/leads/import/{job_id}/preview").get_data(as_text=True)
    assert "您负责的区域之外已有疑似相同企业的线索" in preview
    assert f"#{existing}" not in preview
    assert "北京同仁医药有限公司" not in preview


def test_a_data_row_that_contains_column_words_is_not_taken_for_the_header(app, admin, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("企业名称,联系方式\n深圳市南山区康源医药有限公司,广东省深圳市\n", encoding="utf-8")
    with app.app_context():
        headers, rows = importer.read_table(path)
        assert headers == ["企业名称", "联系方式"]
        assert list(rows) == [["深圳市南山区康源医药有限公司", "广东省深圳市"]]
