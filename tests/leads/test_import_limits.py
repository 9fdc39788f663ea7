"""Lists that expand far beyond their size (spreadsheet and CSV bombs) are refused quickly, with a
message, and reading any upload never holds the database's write lock against other users."""

from __future__ import annotations

import csv
import io
import re
import threading
import time
import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.extensions import db
from crm.leads import importer
from crm.leads.importer import guess_mapping
from crm.leads.imports_models import ImportStatus, LeadImport
from crm.leads.models import Campaign, Channel, Lead
from tests.helpers import csrf_token, login

HEADER = ["企业名称", "所在地区"]
MILLION_ROWS = "文件超过 100000 行"


def workbook_bomb(path, rows: int, *, dimension: bool = False):
    """An XLSX whose sheet XML holds ``rows`` identical rows: a few hundred KB that unpack to tens of MB."""
    book = Workbook()
    book.active.append(HEADER)
    book.save(path)
    with zipfile.ZipFile(path) as source:
        parts = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    row = '<row><c t="inlineStr"><is><t>康源医药</t></is></c></row>'
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    head += '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    if dimension:
        head += f'<dimension ref="A1:B{rows + 1}"/>'
    first = (
        f'<row><c t="inlineStr"><is><t>{HEADER[0]}</t></is></c><c t="inlineStr"><is><t>{HEADER[1]}</t></is></c></row>'
    )
    sheet = (head + "<sheetData>" + first + row * rows + "</sheetData></worksheet>").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts:
            target.writestr(name, sheet if name == "xl/worksheets/sheet1.xml" else data)
    return path


@pytest.fixture
def campaign_id(app):
    with app.app_context():
        campaign = Campaign(name="2026 成都药交会", channel=Channel.TRADE_SHOW)
        db.session.add(campaign)
        db.session.commit()
        return campaign.id


def signed_in(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def upload(client, path, campaign_id):
    with open(path, "rb") as fh:
        return client.post(
            "/leads/import",
            data={"file": (fh, path.name), "campaign_id": str(campaign_id), "csrf_token": csrf_token(client)},
            content_type="multipart/form-data",
        )


def stored_uploads(app) -> set:
    with app.app_context():
        return set(importer.imports_dir().iterdir())


def import_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(LeadImport.id)))


class AnotherUserWrites:
    """Just as the list is read (``importer.read_table``), another user creates a lead in its own
    thread, and the read waits for it; what it got is kept. A reader that held SQLite's write lock
    would make it wait for the busy timeout and fail with "database is locked"."""

    def __init__(self, app, user, campaign_id, monkeypatch):
        self.client = signed_in(app, user)
        self.campaign_id = campaign_id
        self.results: list[tuple[int, float]] = []
        real = importer.read_table

        def read_while_another_user_writes(*args, **kwargs):
            # The reader waits for the writer: a reader holding the write lock would make the
            # writer wait out SQLite's busy timeout and fail.
            writer = threading.Thread(target=self._write)
            writer.start()
            writer.join(timeout=30)
            return real(*args, **kwargs)

        monkeypatch.setattr(importer, "read_table", read_while_another_user_writes)

    def _write(self):
        try:
            self._create_a_lead()
        except Exception as error:  # reported by the test, not lost in the thread
            self.results.append((repr(error), 0))

    def _create_a_lead(self):
        started = time.monotonic()
        n = len(self.results) + 1
        response = self.client.post(
            "/leads/new",
            data={
                "company_name": f"同时录入医药{n}有限公司",
                "territory_code": "440305",
                "campaign_id": str(self.campaign_id),
                "contacts-0-name": "",
                "contacts-1-name": "",
                "contacts-2-name": "",
                "csrf_token": csrf_token(self.client),
            },
        )
        self.results.append((response.status_code, time.monotonic() - started))


@pytest.mark.parametrize("dimension", [False, True], ids=["rows-counted", "rows-declared"])
def test_a_workbook_that_expands_to_a_million_rows_is_refused_within_seconds_while_others_write(
    app, make_user, tmp_path, campaign_id, monkeypatch, dimension
):
    bomb = workbook_bomb(tmp_path / "展会名单.xlsx", 1_000_000, dimension=dimension)
    assert bomb.stat().st_size < 600 * 1024  # a small upload …
    with zipfile.ZipFile(bomb) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size > 50 * 2**20  # … that unpacks to 50 MB+
    rep = make_user(Role.REP, territories=["440300"])
    colleague = make_user(Role.REP, territories=["440300"])
    other = AnotherUserWrites(app, colleague, campaign_id, monkeypatch)
    client = signed_in(app, rep)
    before = stored_uploads(app)

    started = time.monotonic()
    response = upload(client, bomb, campaign_id)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert MILLION_ROWS in response.get_data(as_text=True)
    assert elapsed < 5, f"refused after {elapsed:.1f} s"
    assert import_count(app) == 0
    assert stored_uploads(app) == before
    # The colleague's lead went in while the upload was being read, without waiting on it.
    assert [status for status, _took in other.results] == [303]
    assert max(took for _status, took in other.results) < 3
    with app.app_context():
        assert db.session.scalar(select(Lead.company_name)) == "同时录入医药1有限公司"


def test_parts_that_declare_more_bytes_than_the_limit_are_refused_before_unpacking(
    app, make_user, tmp_path, campaign_id, monkeypatch
):
    monkeypatch.setitem(app.config, "LEAD_IMPORT_MAX_UNCOMPRESSED_BYTES", 2**20)
    bomb = workbook_bomb(tmp_path / "list.xlsx", 20_000)  # about 2 MB unpacked
    unpacked = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: unpacked.append(a) or pytest.fail("unpacked"))
    response = upload(signed_in(app, make_user(Role.ADMIN)), bomb, campaign_id)
    assert "该工作簿解压后超过 1 MB" in response.get_data(as_text=True)
    assert unpacked == []
    assert import_count(app) == 0


def _csv(rows) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, *rows])
    return buffer.getvalue().encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_csv([["医药", "深圳"]] * 101), "文件超过 100 行"),
        (_csv([["医药", "深圳", *["x"] * 20]]), "第 2 行超过 10 列"),
        (_csv([["医药", "深圳"], ["医药" * 60, "深圳"]]), "第 3 行有单元格超过 100 个字符"),
        (b'\xe4\xbc\x81\xe4\xb8\x9a\xe5\x90\x8d\xe7\xa7\xb0,x\n"never closed,' + b"y" * 200_000, "第 2 行无法读取"),
    ],
    ids=["rows", "columns", "cell", "unclosed-quote"],
)
def test_a_csv_beyond_the_limits_is_refused_at_upload_with_why(
    app, make_user, tmp_path, campaign_id, monkeypatch, content, message
):
    for name, value in {"ROWS": 100, "COLUMNS": 10, "CELL_CHARS": 100}.items():
        monkeypatch.setitem(app.config, f"LEAD_IMPORT_MAX_{name}", value)
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    before = stored_uploads(app)
    response = upload(signed_in(app, make_user(Role.ADMIN)), path, campaign_id)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert import_count(app) == 0
    assert stored_uploads(app) == before


def test_a_large_file_beyond_the_limits_deep_inside_fails_its_check_in_the_scheduler_without_blocking_writes(
    app, make_user, tmp_path, campaign_id, monkeypatch
):
    monkeypatch.setitem(app.config, "LEAD_IMPORT_BACKGROUND_ROWS", 5)
    monkeypatch.setitem(app.config, "LEAD_IMPORT_MAX_CELL_CHARS", 100)
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for n in range(40):  # row 32 holds a cell only the full read finds
        sheet.append(["医药" * 60 if n == 30 else f"后台医药{n}", "深圳 南山"])
    path = tmp_path / "大名单.xlsx"
    book.save(path)
    admin = make_user(Role.ADMIN)
    client = signed_in(app, admin)
    mapping_url = upload(client, path, campaign_id).headers["Location"]
    job_id = int(re.search(r"/import/(\d+)/", mapping_url).group(1))
    data = {"csrf_token": csrf_token(client), **{f"map_{k}": str(v) for k, v in guess_mapping(HEADER).items()}}
    assert client.post(mapping_url, data=data).headers["Location"] == f"/leads/import/{job_id}"
    with app.app_context():
        job = db.session.get(LeadImport, job_id)
        assert job.status == ImportStatus.DRY_RUN_QUEUED
        upload_path = importer.job_path(job)

    other = AnotherUserWrites(app, make_user(Role.REP, territories=["440300"]), campaign_id, monkeypatch)
    with app.app_context():
        assert importer.run_queued_imports() == f"#{job_id}: check failed"
    assert [status for status, _took in other.results] == [303]
    assert max(took for _status, took in other.results) < 3
    page = client.get(f"/leads/import/{job_id}").get_data(as_text=True)
    assert "第 32 行有单元格超过 100 个字符" in page
    with app.app_context():
        assert db.session.get(LeadImport, job_id).status == ImportStatus.FAILED
        assert db.session.scalar(select(func.count(Lead.id))) == 1  # the colleague's
    assert not upload_path.exists()


def test_a_small_file_found_beyond_the_limits_at_its_dry_run_fails_with_why(
    app, make_user, tmp_path, campaign_id, monkeypatch
):
    monkeypatch.setitem(app.config, "LEAD_IMPORT_MAX_CELL_CHARS", 100)
    book = Workbook()
    book.active.append(HEADER)
    for n in range(12):  # row 11's cell is past the mapping page's sample; the dry run reads it
        book.active.append(["医药" * 60 if n == 9 else f"小名单医药{n}", "深圳 南山"])
    path = tmp_path / "名单.xlsx"
    book.save(path)
    client = signed_in(app, make_user(Role.ADMIN))
    mapping_url = upload(client, path, campaign_id).headers["Location"]
    job_id = int(re.search(r"/import/(\d+)/", mapping_url).group(1))
    assert client.get(mapping_url).status_code == 200
    data = {"csrf_token": csrf_token(client), **{f"map_{k}": str(v) for k, v in guess_mapping(HEADER).items()}}
    assert client.post(mapping_url, data=data).headers["Location"] == f"/leads/import/{job_id}"
    page = client.get(f"/leads/import/{job_id}").get_data(as_text=True)
    assert "第 11 行有单元格超过 100 个字符" in page
    with app.app_context():
        job = db.session.get(LeadImport, job_id)
        assert job.status == ImportStatus.FAILED
        assert not importer.job_path(job).exists()
