"""Benchmark orders and trace codes: 1,000,000 orders, 10,000,000 codes, the order pages, ingest and lookup.

    .venv/bin/python bench/orders.py                      # SQLite, the issue's sizes
    .venv/bin/python bench/orders.py --pg                 # SQLite, then PostgreSQL (throw-away cluster)
    .venv/bin/python bench/orders.py --orders 20000 --codes 200000 --ingest 10000 --seconds 3   # smaller

Seeds a temporary database server-side, in chunks of INSERT … SELECT over
generate_series (PostgreSQL) or a recursive CTE (SQLite), the way bench/leads.py
seeds its leads: distributors across the counties of 广东省, each with a signed
agreement of three products; ``--orders`` orders of three lines each, one placed
a minute (the newest three days' in every state, half of them waiting on the
order desk; the older ones closed, every 50th cancelled); a shipment of every
shipped order, one item per line; and ``--codes`` trace codes on those items,
carrying the order's distributor and county as the shipping service records
them. The bare page of the leads benchmark needs its leads: ``--leads`` of them
are seeded by bench/leads.py's own seeding.

Then it prints:
- the order desk's queue (GET /orders/ as service) and the portal's order list
  (GET /orders/ as a distributor's user), 50 rows, under gunicorn (2 workers),
  p50/p95 and requests per second, beside the bare page of bench/leads.py served
  the same way in the same run (target: at least 1/3 of its throughput);
- the SQL statements of each page at 10 and at 100 rows (they must be equal);
- the ingest of one shipment of ``--ingest`` codes through the shipping page's
  service (``services.record_shipment``: reading, validation, the 一物一码 check
  and the insert), committed, in codes per second (target: 20,000);
- the lookup of one code to its distributor and county
  (``tracecodes.whereabouts``) in process, p50/p95 over random seeded codes
  (target: p95 under 5 ms);
- the return form's lot picker (the shipment in reach and its lots with what is
  left to return) and the quantity check (``returns.services.request_return`` of
  one unit and its trace code: reach, quantity per item and lot, the code shipped
  to this distributor and in no live return, the claim), in process as the
  portal's user, p50/p95 over random shipments of its (target: p95 under 50 ms).
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from bench import leads  # noqa: E402
from bench._common import (  # noqa: E402
    PASSWORD,
    SECRET_KEY,
    Gunicorn,
    count_statements,
    load,
    postgres_url,
    print_figures,
    rerun_in_cluster,
    sign_in,
    signed_in_client,
)
from crm.common.time import local_today, utcnow  # noqa: E402
from crm.extensions import db  # noqa: E402

CHUNK = 500_000  # rows per INSERT … SELECT
PRODUCTS = 3  # per agreement and per order: product k has 药品标识码 810000k
# Order n was placed n minutes ago. The newest OPEN_WINDOW (three days' worth) are in every state,
# by n % 20; the older ones are closed, every 50th cancelled.
OPEN_WINDOW = 3 * 24 * 60
RECENT_STATES = (
    *["submitted"] * 4,
    *["confirmed"] * 2,
    *["picking"] * 2,
    "on_hold",
    *["shipped"] * 4,
    *["delivered"] * 2,
    *["invoiced"] * 2,
    "cancelled",
    *["closed"] * 2,
)
WITH_DEADLINE = ("submitted", "confirmed", "picking", "on_hold", "delivered")
SHIPPED_STATES = ("shipped", "delivered", "invoiced", "closed")
SERVICE_USER = "bench-service"
PORTAL_USER = "bench-portal"


def drug_code(k: int) -> str:
    return f"810000{k}"


def open_window(orders: int) -> int:
    """How many of the newest orders are in every state (the rest are closed or cancelled)."""
    return min(OPEN_WINDOW, orders // 4)


def closed_count(orders: int) -> int:
    """How many of the older orders (past the open window) are closed: all but every 50th."""
    older = orders - open_window(orders)
    return older // 50 * 49 + older % 50


def closed_order(slot: str, window: int) -> str:
    """SQL: the number of the ``slot``-th closed order (0-based) past the open window."""
    return f"({window} + ({slot}) / 49 * 50 + ({slot}) % 49 + 1)"


def state_of(n: str, window: int) -> str:
    """SQL: the state of order ``n``."""
    recent = " ".join(f"WHEN {r} THEN '{state}'" for r, state in enumerate(RECENT_STATES))
    return (
        f"(CASE WHEN {n} <= {window} THEN CASE ({n}) % {len(RECENT_STATES)} {recent} END "
        f"WHEN ({n} - {window}) % 50 = 0 THEN 'cancelled' ELSE 'closed' END)"
    )


def seeded_code(j: int, orders: int) -> str:
    """The ``j``-th seeded trace code (0-based), as the SQL below makes it."""
    k = (j // closed_count(orders)) % PRODUCTS + 1
    return f"{drug_code(k)}{j:013d}"


# -- seeding -------------------------------------------------------------------------------


class Series:
    """INSERT … SELECT over n = lo…hi, written once for both databases.

    The SELECT names its rows ``g`` with column ``n``; ``{ts(expr)}`` is a timestamp
    ``expr`` minutes after :now, ``{pad(expr, w)}`` zero-pads an integer to ``w`` digits.
    """

    def __init__(self, conn):
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"

    def ts(self, minutes: str) -> str:
        if self.pg:
            return f"(CAST(:now AS TIMESTAMP) + ({minutes}) * INTERVAL '1 minute')"
        # SQLite stores DateTime as text: format it as SQLAlchemy does.
        return f"strftime('%Y-%m-%d %H:%M:%f000', :now, ({minutes}) || ' minutes')"

    def pad(self, expr: str, width: int) -> str:
        return f"lpad(CAST({expr} AS TEXT), {width}, '0')" if self.pg else f"printf('%0{width}d', {expr})"

    def insert(self, table: str, columns: str, select_sql: str, lo: int, hi: int, params: dict, chunk=CHUNK):
        for start in range(lo, hi + 1, chunk):
            end = min(start + chunk - 1, hi)
            if self.pg:
                sql = f"INSERT INTO {table} ({columns}) " + select_sql.replace(
                    "FROM g", "FROM generate_series(CAST(:lo AS BIGINT), CAST(:hi AS BIGINT)) AS g(n)"
                )
            else:
                sql = (
                    "WITH RECURSIVE g(n) AS (SELECT :lo UNION ALL SELECT n + 1 FROM g WHERE n < :hi) "
                    f"INSERT INTO {table} ({columns}) {select_sql}"
                )
            self.conn.execute(text(sql), {**params, "lo": start, "hi": end})


def _prepare(url: str, leads_rows: int):
    """bench/leads.py's schema, users and leads (for its bare page), and the order desk's user and products."""
    from crm.access.roles import Role
    from crm.auth.models import User
    from crm.auth.passwords import hash_password
    from crm.products.models import Dispensing, DosageForm, InsuranceClass, Product

    app = leads._prepare(url)
    with app.app_context():
        lead_seconds = leads._seed(leads_rows)
        for k in range(1, PRODUCTS + 1):
            db.session.add(
                Product(
                    name=f"基准药品{k}",
                    specification="10 mg × 24 片",
                    dosage_form=DosageForm.PILL,
                    approval_number=f"国药准字Z2026000{k}",
                    insurance_class=InsuranceClass.CLASS_A,
                    dispensing=Dispensing.OTC,
                    drug_code=drug_code(k),
                    requires_trace_codes=True,
                )
            )
        db.session.add(
            User(username=SERVICE_USER, display_name="商务", role=Role.SERVICE, password_hash=hash_password(PASSWORD))
        )
        db.session.commit()
    return app, lead_seconds


def _seed(orders: int, codes: int, distributors: int) -> dict[str, float]:
    """Distributors, agreements, lots, orders with lines, shipments with items, trace codes; seconds per part."""
    from crm.distributors.agreements import territory_range

    timings = {}
    now = utcnow()
    today = local_today()
    started = time.perf_counter()
    counties = list(
        db.session.scalars(text("SELECT code FROM territories WHERE level = 3 AND code LIKE '44%' ORDER BY code"))
    )
    county_rows = [
        {"idx": i, "code": code, "lo": territory_range(code)[0], "hi": territory_range(code)[1]}
        for i, code in enumerate(counties)
    ]
    db.session.remove()
    with db.engine.begin() as conn:
        series = Series(conn)
        now_param = now if series.pg else now.strftime("%Y-%m-%d %H:%M:%S")
        conn.execute(
            text("CREATE TABLE bench_counties (idx INTEGER PRIMARY KEY, code VARCHAR(6), lo VARCHAR(6), hi VARCHAR(6))")
        )
        conn.execute(text("INSERT INTO bench_counties (idx, code, lo, hi) VALUES (:idx, :code, :lo, :hi)"), county_rows)
        params = {"now": now_param, "today": today, "counties": len(counties), "products": PRODUCTS}
        first_product = conn.execute(text("SELECT MIN(id) FROM products")).scalar_one()
        params["p0"] = first_product - 1

        # Distributor d (1…D) works county (d - 1) % C, with agreement d and agreement lines 3(d - 1) + k.
        series.insert(
            "distributors",
            "id, name, territory_code, created_at, state, version, state_entered_at",
            f"SELECT n, '广东基准医药' || n || '有限公司', c.code, {series.ts('-n')}, 'active', 1, {series.ts('-n')} "
            "FROM g JOIN bench_counties c ON c.idx = (n - 1) % :counties",
            1,
            distributors,
            params,
        )
        series.insert(
            "agreements",
            "id, number, distributor_id, status, starts_on, ends_on, created_at, version",
            f"SELECT n, 'BENCH-' || n, n, 'signed', :starts, :ends, {series.ts('-n')}, 1 FROM g",
            1,
            distributors,
            {**params, "starts": today - timedelta(days=900), "ends": today + timedelta(days=365)},
        )
        series.insert(
            "agreement_lines",
            "id, agreement_id, product_id, territory_code, exclusive, code_lo, code_hi, unit_price",
            "SELECT n, (n - 1) / :products + 1, :p0 + (n - 1) % :products + 1, c.code, :no, c.lo, c.hi, "
            "10 * ((n - 1) % :products + 1) "
            "FROM g JOIN bench_counties c ON c.idx = ((n - 1) / :products) % :counties",
            1,
            distributors * PRODUCTS,
            {**params, "no": False},
        )
        # One lot per product, with stock for the ingest's shipment.
        series.insert(
            "lots",
            "id, product_id, number, produced_on, expires_on, quantity_released, quantity_left, created_at",
            f"SELECT n, :p0 + n, 'L2026' || n, :produced, :expires, 1000000000, 1000000000, {series.ts('0')} FROM g",
            1,
            PRODUCTS,
            {**params, "produced": today - timedelta(days=30), "expires": today + timedelta(days=700)},
        )
        timings["distributors"] = time.perf_counter() - started

        # Order n: distributor (n - 1) % D + 1, placed n minutes ago, state as ``state_of`` says.
        started = time.perf_counter()
        window = open_window(orders)
        state = state_of("n", window)
        quoted = ", ".join(f"'{code}'" for code in WITH_DEADLINE)
        # The running deadlines spread over two days, some already past.
        due = f"CASE WHEN {state} IN ({quoted}) THEN {series.ts('(n * 37) % 2880 - 240')} END"
        sla_status = (
            f"CASE WHEN {state} IN ({quoted}) THEN CASE WHEN (n * 37) % 2880 < 240 THEN 'breached' ELSE 'ok' END END"
        )
        shipped_states = ", ".join(f"'{code}'" for code in SHIPPED_STATES)
        series.insert(
            "orders",
            "id, number, distributor_id, agreement_id, ship_to_code, ship_to_address, receiver_name, total, "
            "created_at, state, version, state_entered_at, sla_status, sla_due_at, sla_next_check_at, shipped_at",
            f"SELECT n, 'SO' || {series.pad('n', 10)}, (n - 1) % :d + 1, (n - 1) % :d + 1, c.code, "
            "'基准路' || n || '号', '收货人', 1400, "
            f"{series.ts('-n')}, {state}, 1, {series.ts('-n')}, {sla_status}, {due}, {due}, "
            f"CASE WHEN {state} IN ({shipped_states}) THEN {series.ts('-n')} END "
            "FROM g JOIN bench_counties c ON c.idx = ((n - 1) % :d) % :counties",
            1,
            orders,
            {**params, "d": distributors},
        )
        shipped = f"{state_of('((n - 1) / 3 + 1)', window)} IN ({shipped_states})"
        # Line 3(o - 1) + k of order o: product k, 10·k units at 10·k yuan.
        series.insert(
            "order_lines",
            "id, order_id, product_id, agreement_line_id, quantity, unit_price, amount, accepts_near_expiry, shipped",
            "SELECT n, (n - 1) / 3 + 1, :p0 + (n - 1) % 3 + 1, (((n - 1) / 3) % :d) * 3 + (n - 1) % 3 + 1, "
            "10 * ((n - 1) % 3 + 1), 10 * ((n - 1) % 3 + 1), 100 * ((n - 1) % 3 + 1) * ((n - 1) % 3 + 1), :no, "
            f"CASE WHEN {shipped} THEN 10 * ((n - 1) % 3 + 1) ELSE 0 END FROM g",
            1,
            orders * 3,
            {**params, "d": distributors, "no": False},
        )
        timings["orders"] = time.perf_counter() - started

        # Shipment o of each shipped order o; item = line id, from lot k.
        started = time.perf_counter()
        series.insert(
            "shipments",
            "id, order_id, carrier, waybill, shipped_on, created_at",
            f"SELECT n, n, '顺丰速运', 'SF' || {series.pad('n', 12)}, :today, {series.ts('-n')} FROM g "
            f"WHERE {state} IN ({shipped_states})",
            1,
            orders,
            params,
        )
        series.insert(
            "shipment_items",
            "id, shipment_id, order_line_id, lot_id, quantity",
            f"SELECT n, (n - 1) / 3 + 1, n, (n - 1) % 3 + 1, 10 * ((n - 1) % 3 + 1) FROM g WHERE {shipped}",
            1,
            orders * 3,
            params,
        )
        timings["shipments"] = time.perf_counter() - started

        # Code j (0-based; n = j + 1) goes to the (j mod closed)-th closed order, on its line
        # k = (j div closed) mod 3 + 1, with product k's prefix: every code is unique and fits its line.
        started = time.perf_counter()
        closed = closed_count(orders)
        order_no = closed_order(f"(n - 1) % {closed}", window)
        k = f"(((n - 1) / {closed}) % 3 + 1)"
        series.insert(
            "shipped_codes",
            "id, code, shipment_item_id, distributor_id, territory_code, shipped_at",
            f"SELECT n, '810000' || {k} || {series.pad('n - 1', 13)}, 3 * ({order_no} - 1) + {k}, "
            f"({order_no} - 1) % :d + 1, c.code, {series.ts('0')} "
            f"FROM g JOIN bench_counties c ON c.idx = (({order_no} - 1) % :d) % :counties",
            1,
            codes,
            {**params, "d": distributors},
            chunk=1_000_000,
        )
        timings["codes"] = time.perf_counter() - started
        conn.execute(text("DROP TABLE bench_counties"))
        if series.pg:
            for table in ("distributors", "agreements", "agreement_lines", "lots", "orders", "order_lines"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
                )
            for table in ("shipments", "shipment_items", "shipped_codes"):
                sequence = f"pg_get_serial_sequence('{table}', 'id')"
                conn.execute(text(f"SELECT setval({sequence}, (SELECT COALESCE(MAX(id), 1) FROM {table}))"))
    started = time.perf_counter()
    if db.engine.dialect.name == "postgresql":
        # As autovacuum would leave it: statistics, and a visibility map for index-only scans.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    timings["analyze"] = time.perf_counter() - started
    return timings


def _portal_and_papers(distributor_id: int = 1) -> None:
    """The first distributor's portal user, licences and credit: what the ingest order's gates ask for."""
    from crm.access.roles import Role
    from crm.auth.models import User
    from crm.auth.passwords import hash_password
    from tests.orders.helpers import add_supply_papers

    db.session.add(
        User(
            username=PORTAL_USER,
            display_name="经销商",
            role=Role.DISTRIBUTOR,
            company_id=distributor_id,
            password_hash=hash_password(PASSWORD),
        )
    )
    add_supply_papers(distributor_id, Decimal("999999999999"))
    db.session.commit()


# -- measurements --------------------------------------------------------------------------


def _queries_per_page(app, username: str, sizes=(10, 100)) -> dict[int, int]:
    """SQL statements of one GET /orders/ by ``username`` with a page of N rows, counted on the engine's cursor.

    The order list takes its page size from the configuration (PAGE_SIZE), so the
    in-process app is given each size in turn.
    """
    client = signed_in_client(app, username)
    client.get("/orders/")
    with app.app_context():
        engine = db.engine
    counts = {}
    default = app.config["PAGE_SIZE"]
    try:
        for size in sizes:
            app.config["PAGE_SIZE"] = size
            counts[size], response = count_statements(engine, lambda: client.get("/orders/"))
            assert response.status_code == 200, response.status_code
            rows = len(re.findall(r'data-order="[^"]+"', response.get_data(as_text=True)))
            assert rows == size, (username, rows, size)
    finally:
        app.config["PAGE_SIZE"] = default
    return counts


def _ingest(app, count: int, first_serial: int) -> dict:
    """One shipment of ``count`` fresh codes through the shipping service, as the ship page calls it."""
    from crm.auth.models import User
    from crm.orders import services
    from crm.orders.models import Lot, Order
    from crm.products.models import Product

    with app.test_request_context():
        service = db.session.scalars(select(User).where(User.username == SERVICE_USER)).one()
        product = db.session.scalars(select(Product).where(Product.drug_code == drug_code(1))).one()
        lot = db.session.scalars(select(Lot).where(Lot.product_id == product.id)).one()
        county = db.session.scalar(text("SELECT territory_code FROM distributors WHERE id = 1"))
        order = services.place_order(
            service,
            distributor_id=1,
            ship_to_code=county,
            ship_to_address="基准路1号",
            receiver_name="收货人",
            lines=[services.WantedLine(product.id, count)],
        )
        assert services.confirm(order, service, seen_version=order.version) == "confirmed", order.hold_reason
        services.fire(order, "start_picking", service, seen_version=order.version)
        db.session.commit()
        order_id, line_id, version, lot_id = order.id, order.lines[0].id, order.version, lot.id
        # What a scanner's file holds: one code per line.
        pasted = "\n".join(f"{drug_code(1)}{first_serial + i:013d}" for i in range(count))
        db.session.remove()

        service = db.session.scalars(select(User).where(User.username == SERVICE_USER)).one()
        started = time.perf_counter()
        order = db.session.get(Order, order_id)
        services.record_shipment(
            order,
            service,
            seen_version=version,
            carrier="顺丰速运",
            waybill="SF-BENCH-INGEST",
            shipped_on=None,
            items=[services.ShipmentLine(line_id, lot_id, count, pasted)],
        )
        db.session.commit()
        seconds = time.perf_counter() - started
        assert db.session.get(Order, order_id).state == "shipped"
        recorded = db.session.scalar(
            text("SELECT COUNT(*) FROM shipped_codes WHERE code >= :lo AND code < :hi"),
            {
                "lo": f"{drug_code(1)}{first_serial:013d}",
                "hi": f"{drug_code(1)}{first_serial + count:013d}",
            },
        )
        assert recorded == count, (recorded, count)
        db.session.remove()
    return {"codes": count, "seconds": seconds, "per_second": count / seconds}


def _lookups(app, orders: int, codes: int, distributors: int, samples: int) -> dict:
    """``tracecodes.whereabouts`` of random seeded codes, each timed in process."""
    from crm.orders import tracecodes

    rng = random.Random(12)
    picks = [rng.randrange(codes) for _ in range(samples)]
    timings = []
    with app.app_context():
        tracecodes.whereabouts(seeded_code(0, orders))  # connect, compile
        for j in picks:
            began = time.perf_counter()
            found = tracecodes.whereabouts(seeded_code(j, orders))
            timings.append(time.perf_counter() - began)
            assert found is not None, j
            assert 1 <= found.distributor_id <= distributors, (j, found)
        db.session.remove()
    timings.sort()
    return {
        "samples": samples,
        "p50_ms": statistics.median(timings) * 1000,
        "p95_ms": timings[max(int(len(timings) * 0.95) - 1, 0)] * 1000,
    }


def _return_checks(app, samples: int) -> dict:
    """The return form's lot picker and the quantity check of a request, timed in process; each rolled back."""
    from crm.auth.models import User
    from crm.orders.models import Order, Shipment, ShipmentItem, ShippedCode
    from crm.returns import services as returns

    rng = random.Random(13)
    picker, check = [], []
    with app.test_request_context():
        from crm.distributors.models import Agreement
        from crm.returns.models import ReturnPolicy

        portal = db.session.scalars(select(User).where(User.username == PORTAL_USER)).one()
        # The seeded shipments go back two years: the company's agreements take returns for ten,
        # so that any of them may be sampled (the window is one comparison either way).
        for agreement_id in db.session.scalars(
            select(Agreement.id).where(Agreement.distributor_id == portal.company_id)
        ):
            db.session.merge(ReturnPolicy(agreement_id=agreement_id, window_days=3650))
        db.session.commit()
        # Shipped items of the portal's company that carry a trace code (its products use them),
        # of orders whose receipt is confirmed: only those can be returned.
        candidates = db.session.execute(
            select(ShipmentItem.shipment_id, ShipmentItem.id, ShippedCode.code)
            .join(ShippedCode, ShippedCode.shipment_item_id == ShipmentItem.id)
            .join(Shipment, Shipment.id == ShipmentItem.shipment_id)
            .join(Order, Order.id == Shipment.order_id)
            .where(ShippedCode.distributor_id == portal.company_id, Order._state.in_(returns.DELIVERED_STATES))
            .limit(2_000)
        ).all()
        assert candidates, "no shipped code of the portal's company"
        for _ in range(samples):
            shipment_id, item_id, code = rng.choice(candidates)
            began = time.perf_counter()
            shipment = returns.returnable_shipment(portal, shipment_id)
            rows = returns.returnables(shipment)
            picker.append(time.perf_counter() - began)
            assert any(row.item_id == item_id and row.left > 0 for row in rows), (shipment_id, item_id)
            began = time.perf_counter()
            returns.request_return(
                portal,
                shipment_id=shipment_id,
                kind="return",
                reason="damaged",
                lines=[returns.WantedReturn(item_id, 1, code)],
            )
            check.append(time.perf_counter() - began)
            db.session.rollback()  # the next sample finds the item as seeded
        db.session.remove()

    def figures(timings):
        timings.sort()
        return {
            "p50_ms": statistics.median(timings) * 1000,
            "p95_ms": timings[max(int(len(timings) * 0.95) - 1, 0)] * 1000,
        }

    return {"samples": samples, "picker": figures(picker), "check": figures(check)}


# -- one run -------------------------------------------------------------------------------


def run(name: str, url: str, args, instance: str) -> None:
    distributors = max(1, min(args.distributors, args.orders // 1000))
    app, lead_seconds = _prepare(url, args.leads)
    with app.app_context():
        timings = _seed(args.orders, args.codes, distributors)
        _portal_and_papers()
        totals = {
            table: db.session.scalar(select(func.count()).select_from(text(table)))
            for table in ("orders", "order_lines", "shipped_codes", "leads")
        }
        db.session.remove()
    print(
        f"{name}: seeded {totals['orders']:,} orders ({totals['order_lines']:,} lines) of {distributors:,} "
        f"distributors and {totals['shipped_codes']:,} trace codes in {sum(timings.values()):.1f} s "
        f"({', '.join(f'{part} {seconds:.1f} s' for part, seconds in timings.items())}); "
        f"{totals['leads']:,} leads for the bare page in {lead_seconds:.1f} s",
        flush=True,
    )

    counts = {user: _queries_per_page(app, user) for user in (SERVICE_USER, PORTAL_USER)}
    with app.app_context():
        db.session.remove()
        db.engine.dispose()

    env = {"DATABASE_URL": url, "CRM_INSTANCE_DIR": instance, "BENCH_DATABASE_URL": url, "SECRET_KEY": SECRET_KEY}
    with Gunicorn("wsgi:app", env) as real:
        desk = load(real.port, "/orders/", sign_in(real.port, SERVICE_USER), args.seconds, args.threads)
        portal = load(real.port, "/orders/", sign_in(real.port, PORTAL_USER), args.seconds, args.threads)
    with Gunicorn("bench.bare_leads_app:app", env) as bare_app:
        bare = load(bare_app.port, "/leads/", None, args.seconds, args.threads)

    print_figures("order desk queue /orders/ (service, 50 rows)", desk, 46)
    print_figures("portal order list /orders/ (distributor)", portal, 46)
    print_figures("bare page of bench/leads.py (50 rows)", bare, 46)
    for label, figures in (("order desk", desk), ("portal", portal)):
        ratio = figures["rps"] / bare["rps"]
        verdict = "meets" if ratio >= 1 / 3 else "MISSES"
        print(
            f"  {label}: throughput ratio to the bare page = {ratio:.2f} ({verdict} the target of ≥ 0.33)", flush=True
        )
    for label, user in (("order desk queue", SERVICE_USER), ("portal order list", PORTAL_USER)):
        got = counts[user]
        equal = "equal" if got[10] == got[100] else "NOT EQUAL"
        print(f"  SQL queries per {label} page: {got[10]} at 10 rows, {got[100]} at 100 rows ({equal})", flush=True)

    ingest = _ingest(app, args.ingest, first_serial=args.codes + 1)
    verdict = "meets" if ingest["per_second"] >= 20_000 else "MISSES"
    print(
        f"  ingest of a {ingest['codes']:,}-code shipment (record_shipment, validation and uniqueness check "
        f"included, committed): {ingest['seconds']:.2f} s = {ingest['per_second']:,.0f} codes/s "
        f"({verdict} the target of ≥ 20,000)",
        flush=True,
    )
    lookup = _lookups(app, args.orders, args.codes, distributors, args.lookups)
    verdict = "meets" if lookup["p95_ms"] < 5 else "MISSES"
    print(
        f"  lookup of one trace code → distributor and county (whereabouts, in process, {lookup['samples']:,} "
        f"random codes): p50={lookup['p50_ms']:.2f} ms  p95={lookup['p95_ms']:.2f} ms ({verdict} the target of < 5 ms)",
        flush=True,
    )
    checks = _return_checks(app, args.lookups)
    for key, label in (("picker", "return form's lot picker"), ("check", "return quantity check (request_return)")):
        got = checks[key]
        verdict = "meets" if got["p95_ms"] < 50 else "MISSES"
        print(
            f"  {label} (in process, {checks['samples']:,} random shipments): p50={got['p50_ms']:.2f} ms  "
            f"p95={got['p95_ms']:.2f} ms ({verdict} the target of < 50 ms)",
            flush=True,
        )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--codes", type=int, default=10_000_000)
    parser.add_argument("--distributors", type=int, default=1_000, help="at most one per 1,000 orders")
    parser.add_argument("--leads", type=int, default=200_000, help="leads for the bare page of bench/leads.py")
    parser.add_argument("--ingest", type=int, default=100_000, help="codes in the ingested shipment")
    parser.add_argument("--lookups", type=int, default=2_000, help="trace codes looked up")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load loop")
    parser.add_argument("--threads", type=int, default=4, help="concurrent keep-alive connections")
    parser.add_argument("--pg", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    if args.orders < 2_000:
        parser.error("--orders: at least 2,000 (100 rows of the desk's queue and of the portal's list)")
    if args.codes < 1:
        parser.error("--codes: at least 1")

    status = 0
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            run("SQLite", f"sqlite:///{tmp}/bench.sqlite3", args, tmp)
    if args.only == "postgresql" or args.pg:
        url = postgres_url()
        if url:
            with tempfile.TemporaryDirectory() as tmp:
                run("PostgreSQL", url, args, tmp)
        else:
            forwarded = [
                f"--{name}={getattr(args, name)}"
                for name in ("orders", "codes", "distributors", "leads", "ingest", "lookups", "seconds", "threads")
            ]
            status = rerun_in_cluster(__file__, forwarded)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
