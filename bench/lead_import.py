"""Benchmark the lead import: a 100,000-row trade-show list, checked and imported in one transaction.

    .venv/bin/python bench/lead_import.py                  # SQLite (and PostgreSQL when BENCH_PG_URL or
                                                           # TEST_DATABASE_URL is set)
    .venv/bin/python bench/lead_import.py --rows 20000

Generates a CSV with realistic company names, phones in mixed formats (138 0013 8000,
+86-138…, 0755-8600 1234, full-width digits, two numbers in one cell), places across
Guangdong in several spellings, some blank rows and some bad cells; then times the dry
run (read + validate + duplicate check) and the import into a fresh database. Target on
a 2-core machine: ≥ 10,000 rows/s for the whole (dry run + import).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HEADER = ["企业名称", "联系人", "手机/电话", "统一社会信用代码", "省", "市", "区县", "意向产品", "备注"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰飞鹏辉斌宇浩凯健俊帆"
BRANDS = "康源健民百草仁和济世同德华润天和恒泰广济安康瑞祥永信德生惠民普济金康众康益生博爱"
TRADES = ("医药", "药业", "大药房", "医药连锁", "医疗器械", "药品经营部", "生物科技", "医药贸易")
MOBILE_PREFIXES = (*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, *range(180, 190), 177, 199)
FORMS = ("有限公司", "有限责任公司", "股份有限公司", "", "经营部")


def _places():
    """(province, city, county) spellings across Guangdong, as people type them."""
    from crm.extensions import db
    from crm.territories.models import Territory

    rows = db.session.execute(
        db.select(Territory.code, Territory.full_name).where(Territory.code.like("44%"), Territory.level == 3)
    ).all()
    places = []
    for _code, full_name in rows:
        parts = full_name.split()
        if len(parts) == 3:
            places.append(parts)
    return places


def _phone(rng: random.Random) -> str:
    mobile = f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
    kind = rng.random()
    if kind < 0.35:
        return mobile
    if kind < 0.55:
        return f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    if kind < 0.65:
        return f"+86-{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    if kind < 0.72:
        return mobile.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if kind < 0.85:
        return f"0{rng.choice(['755', '20', '769', '757'])}-{rng.randrange(2, 9)}{rng.randrange(10**7):07d}"
    return f"{mobile} / 0755-8{rng.randrange(10**7):07d}"


def write_csv(path: Path, rows: int, seed: int = 2026) -> None:
    from tests.helpers import valid_uscc

    rng = random.Random(seed)
    places = _places()
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for n in range(rows):
            if n % 250 == 0:
                writer.writerow([""] * len(HEADER))
                continue
            province, city, county = rng.choice(places)
            short_city = city.removesuffix("市")
            name = f"{short_city}{rng.choice(BRANDS)}{rng.choice(BRANDS)}{rng.choice(TRADES)}{n}{rng.choice(FORMS)}"
            person = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.5 else "")
            phone = "12345" if n % 997 == 0 else _phone(rng)
            uscc = valid_uscc(n) if rng.random() < 0.3 else ""
            style = rng.random()
            if style < 0.5:
                place = (province, city, county)
            elif style < 0.8:
                place = ("", short_city, county.removesuffix("区").removesuffix("县"))
            else:
                place = (province, "", f"{city}{county}")
            writer.writerow([name, person, phone, uscc, *place, "", "展会扫码" if n % 7 == 0 else ""])


def run(url: str, rows: int, tmp: str) -> dict:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from config import TestConfig
    from crm import create_app
    from crm.access.roles import Role
    from crm.auth.models import User
    from crm.extensions import db
    from crm.leads import importer
    from crm.leads.importer import guess_mapping, read_table
    from crm.leads.models import Campaign, Channel, Lead
    from crm.territories.models import Territory
    from crm.territories.services import load_territories

    os.environ["CRM_INSTANCE_DIR"] = tmp
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)
    app.instance_path = tmp
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            from sqlalchemy import text

            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        if db.session.get(Territory, "440305") is None:
            load_territories()
        admin = User(username="bench-admin", display_name="admin", role=Role.ADMIN, password_hash="x")
        db.session.add(admin)
        for n, code in enumerate(("440300", "440100", "440305", "440305", "441900", "440600")):
            rep = User(username=f"bench-rep{n}", display_name="rep", role=Role.REP, password_hash="x")
            rep.territories = [db.session.get(Territory, code)]
            db.session.add(rep)
        manager = User(username="bench-manager", display_name="manager", role=Role.MANAGER, password_hash="x")
        manager.territories = [db.session.get(Territory, "440000")]
        campaign = Campaign(name="2026 广州药交会", channel=Channel.TRADE_SHOW)
        db.session.add_all([manager, campaign])
        db.session.commit()

        path = Path(tmp) / "trade_show.csv"
        write_csv(path, rows)
        headers, _rows = read_table(path)
        mapping = guess_mapping(headers)

        started = time.perf_counter()
        plan = importer.plan_import(path, mapping, admin)
        plan_seconds = time.perf_counter() - started
        started = time.perf_counter()
        created = importer.import_plan(plan, admin, campaign.id)
        db.session.commit()
        import_seconds = time.perf_counter() - started
        total = db.session.scalar(select(func.count(Lead.id)))
        summary = plan.summary()
        db.session.remove()
        db.engine.dispose()
    return {
        "rows": rows,
        "created": created,
        "in_db": total,
        "summary": summary,
        "plan_s": plan_seconds,
        "import_s": import_seconds,
    }


def line(name: str, f: dict) -> str:
    whole = f["plan_s"] + f["import_s"]
    verdict = "meets" if f["rows"] / whole >= 10_000 else "MISSES"
    s = f["summary"]
    return (
        f"{name:<11} {f['rows']:,} rows: dry run {f['plan_s']:.2f}s ({f['rows'] / f['plan_s']:,.0f} rows/s), "
        f"import {f['import_s']:.2f}s ({f['created'] / f['import_s']:,.0f} leads/s), "
        f"whole {f['rows'] / whole:,.0f} rows/s ({verdict} ≥ 10,000); "
        f"{s['new']:,} new, {s['duplicates']:,} duplicates, {s['errors']:,} errors, {s['blank']:,} blank"
    )


def main_import_figures(rows: int = 100_000) -> list[str]:
    """Printable lines: import throughput on SQLite, and on PostgreSQL when BENCH_PG_URL/TEST_DATABASE_URL is set."""
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        lines.append(line("SQLite", run(f"sqlite:///{tmp}/bench.sqlite3", rows, tmp)))
    url = os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_DATABASE_URL")
    if url:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
        with tempfile.TemporaryDirectory() as tmp:
            lines.append(line("PostgreSQL", run(url, rows, tmp)))
    return ["lead import throughput:", *("  " + text for text in lines)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    for text in main_import_figures(args.rows):
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
