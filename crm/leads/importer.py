"""Importing leads from trade-show and phone lists (CSV or XLSX): read, map columns, check, then insert in bulk.

Two steps, both plain functions without Flask request objects, so the web page, the
scheduler job and the benchmark call the same code:

- ``plan_import`` is the dry run: it reads the file, validates every row and finds
  duplicates (inside the file and against the database) without writing anything.
- ``import_plan`` writes the chosen rows with bulk INSERTs inside the caller's
  transaction and flushes; the caller commits, so a failure anywhere leaves the
  database as it was (all or nothing).

Rows are numbered as in the spreadsheet: the header is row 1, or the row of column names below
a title line or two.
"""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import phonenumbers
from flask import current_app
from flask_babel import gettext as _
from pypinyin.core import Pinyin
from pypinyin.phrases_dict import phrases_dict
from pypinyin.pinyin_dict import pinyin_dict
from sqlalchemy import any_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql

from crm.access.roles import Role
from crm.access.scoping import reach_ranges
from crm.auth.models import User, user_territories
from crm.common import tables
from crm.common.phones import format_phone, normalize_phone
from crm.common.time import utcnow
from crm.common.validators import normalize_uscc
from crm.db import read_transaction
from crm.extensions import db
from crm.leads.imports_models import ImportStatus, LeadImport
from crm.leads.models import Campaign, ContactPhone, Lead, LeadContact, lead_products
from crm.leads.services import Duplicate, company_name_key, different_companies, pinyin_initials, warn_of_duplicates
from crm.products.models import Product
from crm.territories.models import Territory
from crm.workflow import engine

# --- reading files (crm/common/tables.py: encodings, title lines, limits) -------------------------

ImportFileError = tables.ImportFileError
TableLimits = tables.TableLimits
ENCODINGS = tables.ENCODINGS


def read_table(path: str | Path, limits: TableLimits | None = None) -> tuple[list[str], Iterator[list]]:
    """The header row and the data rows of a lead list (``tables.read_table`` with the lead columns)."""
    return tables.read_table(path, limits or TableLimits.from_config("LEAD_IMPORT"), COLUMNS)


def check_table(path: str | Path, limits: TableLimits | None = None) -> list[str]:
    """The header of an uploaded list, once its size is known to be within ``limits``; else ``ImportFileError``."""
    path = Path(path)
    headers, rows = read_table(path, limits)
    if path.suffix.lower() != ".xlsx":
        for _row in rows:
            pass  # the bound raises
    return headers


def count_rows(path: str | Path, stop_after: int | None = None) -> int:
    """Data rows in the file (blank ones included), without validating them; at most ``stop_after`` + 1."""
    _header, rows = read_table(path)
    count = 0
    for _row in rows:
        count += 1
        if stop_after is not None and count > stop_after:
            break
    return count


# --- column mapping ----------------------------------------------------------------------------

# field → header words that name it (Chinese and English), most specific first.
FIELD_HEADERS = {
    "company_name": ("公司名称", "企业名称", "单位名称", "客户名称", "公司", "企业", "单位", "company", "name"),
    "contact": ("联系人", "姓名", "负责人", "contact"),
    "title": ("职务", "职位", "title", "position"),
    "phone": ("手机号码", "联系电话", "电话号码", "手机", "电话", "phone", "mobile", "tel"),
    "uscc": ("统一社会信用代码", "信用代码", "社会信用代码", "uscc", "credit code"),
    "province": ("省份", "省", "province"),
    "city": ("城市", "地市", "市", "city"),
    "county": ("区县", "县区", "区/县", "区", "县", "county", "district"),
    "region": ("所在地区", "所在地", "地区", "区域", "region"),
    "address": ("详细地址", "地址", "address"),
    "products": ("意向产品", "产品", "品种", "products", "product"),
    "notes": ("备注", "说明", "notes", "remark", "remarks"),
}
FIELDS = tuple(FIELD_HEADERS)


def field_labels() -> dict[str, str]:
    return {
        "company_name": _("Company name"),
        "contact": _("Contact"),
        "title": _("Contact's title"),
        "phone": _("Phones"),
        "uscc": _("Unified social credit code"),
        "province": _("Province"),
        "city": _("City"),
        "county": _("County"),
        "region": _("Region (one column)"),
        "address": _("Address"),
        "products": _("Products of interest"),
        "notes": _("Notes"),
    }


COLUMNS = tables.Columns(FIELD_HEADERS, key="company_name")


def guess_mapping(headers: list[str]) -> dict[str, int]:
    """field → column index, guessed from the header words; each column used once, exact names first."""
    mapping = COLUMNS.guess(headers)
    if "address" in mapping and "region" not in mapping and not {"province", "city", "county"} & set(mapping):
        mapping["region"] = mapping["address"]  # the address is where the place names are
    return mapping


# --- normalising cell values -------------------------------------------------------------------

_PHONE_SPLIT = re.compile(r"[/,;，；、|\n]+")
# A remark in brackets beside a number: 13800138000（微信同号）, 0755-8600 1234 (办公室). Bracketed
# digits are an area code, (0755), and stay.
_PHONE_REMARK = re.compile(r"[(\[【][^\d()\[\]【】]*[)\]】]")
# An extension after a switchboard's number: 0755-8600 1234 转 806, 分机 806, ext. 806.
_PHONE_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x)\s*(\d{1,6})(?!\d)", re.IGNORECASE)
_MOBILE_SHAPE = re.compile(r"^(?:\+?86|0086)?(1\d{10})$")
_PHONE_NOISE = re.compile(r"[\s\-‐‑–—_.·()（）]")
_CN = phonenumbers.PhoneMetadata.metadata_for_region("CN")
_CN_MOBILE = re.compile(_CN.mobile.national_number_pattern)
_CN_FIXED = re.compile(_CN.fixed_line.national_number_pattern)
_CN_GENERAL = re.compile(_CN.general_desc.national_number_pattern)
_LANDLINE_SHAPE = re.compile(r"^0[1-9]\d{8,10}$")
# What Excel shows, and saves as CSV, for a long number in a General column: 1.38E+10.
_EXCEL_SHORTENED = re.compile(r"^\d+(?:\.\d+)?E\+?\d+$", re.IGNORECASE)


def fast_phone(piece: str) -> str | None:
    """``normalize_phone`` with shortcuts for Chinese mobiles and landlines written with their 0 area
    prefix, checked against the phonenumbers metadata's own patterns; ~10× faster. Anything else, and
    anything the shortcut does not accept, goes through ``normalize_phone``."""
    digits = _PHONE_NOISE.sub("", piece)
    match = _MOBILE_SHAPE.match(digits)
    if match and _CN_MOBILE.fullmatch(match.group(1)):
        return "+86" + match.group(1)
    if _LANDLINE_SHAPE.match(digits):
        national = digits[1:]
        if _CN_GENERAL.fullmatch(national) and _CN_FIXED.fullmatch(national):
            return "+86" + national
    return normalize_phone(piece)


def split_phones(cell: str) -> tuple[list[str], list[str]]:
    """(E.164 numbers, pieces that are not numbers) of a cell with one or more phones.

    Numbers are separated by / , ; 、 or blanks; blanks also occur inside one number
    (138 0013 8000, 0755-8600 1234), so blank-separated groups are joined until
    they make a valid number. Remarks in brackets are ignored, and so are
    extensions, which a number in E.164 cannot hold (see ``phone_extensions``).
    """
    numbers: list[str] = []
    bad: list[str] = []
    cell = _PHONE_EXTENSION.sub(" ", _PHONE_REMARK.sub(" ", cell))  # see phone_extensions
    for part in _PHONE_SPLIT.split(cell):
        part = part.strip()
        if not part:
            continue
        whole = fast_phone(part)
        if whole is not None:
            numbers.append(whole)
            continue
        buffer: list[str] = []
        for token in part.split():
            buffer.append(token)
            found = fast_phone(" ".join(buffer))
            if found is not None:
                numbers.append(found)
                buffer = []
        if buffer:
            bad.append(" ".join(buffer))
    unique = list(dict.fromkeys(numbers))
    return unique, bad


def phone_extensions(cell: str) -> list[str]:
    """The extensions written after numbers in ``cell`` (转 806, 分机 806, ext. 806), which are not stored."""
    return _PHONE_EXTENSION.findall(_PHONE_REMARK.sub(" ", cell))


def _first_letter(reading: str) -> str:
    return unicodedata.normalize("NFKD", reading)[0].lower()


_INITIALS: dict[str, str | None] = {}  # character → its initial; None: depends on the word it is in
_CONTEXT_CHARS: set[str] | None = None
_WORD_INITIALS: dict[str, str] = {}
_SEGMENTER = Pinyin()


def _context_chars() -> set[str]:
    """Characters that some phrase of pypinyin reads with another initial than their own (长沙, 银行)."""
    global _CONTEXT_CHARS
    if _CONTEXT_CHARS is None:
        own: dict[str, str] = {}
        found = set()
        for phrase, readings in phrases_dict.items():
            for ch, options in zip(phrase, readings, strict=False):
                if ch not in own:
                    raw = pinyin_dict.get(ord(ch))
                    if raw is None:
                        continue
                    own[ch] = _first_letter(raw.split(",")[0])
                if _first_letter(options[0]) != own[ch]:
                    found.add(ch)
        _CONTEXT_CHARS = found
    return _CONTEXT_CHARS


def _word_initials(word: str) -> str:
    found = _WORD_INITIALS.get(word)
    if found is None:
        found = _WORD_INITIALS[word] = pinyin_initials(word)
    return found


def fast_initials(name: str) -> str:
    """``pinyin_initials``, fast: a character's own initial unless some phrase reads it otherwise; a name
    with such a character goes through pypinyin's own segmentation (银行 "yh", 长沙 "cs"), each word once."""
    text = unicodedata.normalize("NFKC", name or "")
    out = []
    for ch in text:
        if ch.isascii():
            if ch.isalnum():
                out.append(ch.lower())
            continue
        letter = _INITIALS.get(ch, "")
        if letter == "":
            raw = pinyin_dict.get(ord(ch))
            if raw is None:
                letter = _INITIALS[ch] = "-"  # not a Han character: dropped, as pinyin_initials does
            elif ch in _context_chars():
                letter = _INITIALS[ch] = None
            else:
                letter = _INITIALS[ch] = _first_letter(raw.split(",")[0])
        if letter is None:
            return "".join(_word_initials(word) for word in _SEGMENTER.seg(text))
        if letter != "-":
            out.append(letter)
    return "".join(out)


_cell = tables.cell_text


# --- territories ---------------------------------------------------------------------------------

_PLACE_SUFFIXES = (
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "自治州",
    "自治县",
    "地区",
    "新区",
    "林区",
    "省",
    "市",
    "区",
    "县",
    "盟",
    "旗",
)
_NOT_PLACE = re.compile(r"[\W_]+", re.UNICODE)


@dataclass(frozen=True)
class _Place:
    code: str
    level: int
    full_name: str

    def contains(self, code: str) -> bool:
        keep = {1: 2, 2: 4}.get(self.level, 6)
        return code[:keep] == self.code[:keep]


class TerritoryMatcher:
    """Finds the territory a place text names: "广东省深圳市南山区", "深圳 南山", "南山区", "广东深圳南山科技园".

    Loaded once per import; each distinct text is matched once.
    """

    def __init__(self, reach: list[tuple[str, str]] | None = None):
        self.reach = reach  # code ranges of a rep's or manager's territories; None: everywhere
        self.by_name: dict[str, list[_Place]] = {}
        self.by_full: dict[str, _Place] = {}
        for code, name, full_name, level in db.session.execute(
            select(Territory.code, Territory.name, Territory.full_name, Territory.level)
        ):
            place = _Place(code, level, full_name)
            self.by_full[_NOT_PLACE.sub("", full_name)] = place
            for key in {name, self._short(name)}:
                if len(key) >= 2:
                    self.by_name.setdefault(key, []).append(place)
        self.longest = max(len(k) for k in self.by_name)
        self.cache: dict[str, _Place | list[_Place] | None] = {}

    @staticmethod
    def _short(name: str) -> str:
        for suffix in _PLACE_SUFFIXES:
            if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                return name[: -len(suffix)]
        return name

    def in_reach(self, code: str) -> bool:
        return self.reach is None or any(low <= code <= high for low, high in self.reach)

    def match(self, text: str) -> _Place | list[_Place] | None:
        """The place, a list of candidates when the text is ambiguous, or None when nothing matches."""
        if text not in self.cache:
            self.cache[text] = self._match(text)
        return self.cache[text]

    def _match(self, text: str):
        compact = _NOT_PLACE.sub("", text)
        if not compact:
            return None
        if compact in self.by_full:
            return self.by_full[compact]
        chosen: list[_Place] = []
        pos = 0
        while pos < len(compact):
            found = None
            for size in range(min(self.longest, len(compact) - pos), 1, -1):
                candidates = self.by_name.get(compact[pos : pos + size])
                if not candidates:
                    continue
                if chosen:
                    candidates = [c for c in candidates if any(p.contains(c.code) and p != c for p in chosen)]
                if candidates:
                    found, pos = candidates, pos + size
                    break
            if found is None:
                if chosen:
                    break  # the place names come first; the rest is street and number
                pos += 1
                continue
            chosen = found
            if all(c.level == 3 for c in chosen):
                break
        if not chosen:
            return None
        # 北京市 is both the province and its city: keep the deepest of one chain.
        deepest = max(c.level for c in chosen)
        chosen = [c for c in chosen if c.level == deepest]
        if len(chosen) > 1:
            reachable = [c for c in chosen if self.in_reach(c.code)]
            if len(reachable) == 1:
                return reachable[0]
            return chosen
        return chosen[0]


# --- owners --------------------------------------------------------------------------------------


class OwnerPicker:
    """``crm.leads.services.pick_owner`` for a whole batch, in memory.

    Loads the reps and managers with their territories and who was given a lead
    last once, then hands out owners round-robin as if the leads were created one
    after another.
    """

    def __init__(self):
        rows = db.session.execute(
            select(User.id, User.role, Territory.code, Territory.level)
            .join(user_territories, user_territories.c.user_id == User.id)
            .join(Territory, Territory.code == user_territories.c.territory_code)
            .where(User.role.in_([Role.REP, Role.MANAGER]), User.active.is_(True))
        ).all()
        self.coverage = [(uid, role, _Place(code, level, ""), level) for uid, role, code, level in rows]
        self.last_given = dict(
            db.session.execute(
                select(Lead.assignee_id, func.max(Lead.id))
                .where(Lead.assignee_id.is_not(None))
                .group_by(Lead.assignee_id)
            ).all()
        )
        self.counter = (db.session.scalar(select(func.max(Lead.id))) or 0) + 1
        self.candidates: dict[str, list[int]] = {}

    def _candidates(self, code: str) -> list[int]:
        if code not in self.candidates:
            ids: list[int] = []
            for role in (Role.REP, Role.MANAGER):
                found = [(uid, level) for uid, r, place, level in self.coverage if r == role and place.contains(code)]
                if found:
                    deepest = max(level for _uid, level in found)
                    ids = sorted({uid for uid, level in found if level == deepest})
                    break
            self.candidates[code] = ids
        return self.candidates[code]

    def pick(self, code: str) -> int | None:
        ids = self._candidates(code)
        if not ids:
            return None
        owner = min(ids, key=lambda uid: (self.last_given.get(uid, 0), uid))
        self.last_given[owner] = self.counter
        self.counter += 1
        return owner


# --- the dry run ---------------------------------------------------------------------------------


@dataclass
class Issue:
    row: int
    column: str
    message: str
    error: bool = True
    lead_id: int | None = None  # the existing lead a duplicate warning points to

    def text(self) -> str:
        return _("Row %(row)d, %(column)s: %(message)s", row=self.row, column=self.column, message=self.message)

    def as_dict(self) -> dict:
        return {
            "row": self.row,
            "column": self.column,
            "message": self.message,
            "error": self.error,
            "lead_id": self.lead_id,
        }


@dataclass
class LeadRow:
    row: int
    company_name: str
    name_key: str
    uscc: str | None
    territory_code: str
    address: str | None
    contact: str | None
    title: str | None
    phones: list[str]
    product_ids: list[int]
    notes: str | None
    duplicate: bool = False  # certain: the same phone or credit code as a lead or an earlier row
    similar: bool = False  # only the name matches: a hint, imported unless the user says otherwise
    match_lead_id: int | None = None  # the existing lead in the importer's reach it matches (for "contact")

    @property
    def flagged(self) -> bool:
        return self.duplicate or self.similar

    @property
    def may_join(self) -> bool:
        """Whether the row's person may be added as a contact of the lead it matches (a second visitor)."""
        return self.match_lead_id is not None and bool(self.contact)

    def default_choice(self, include_duplicates: bool = False) -> str:
        return SKIP if self.duplicate and not include_duplicates else NEW


# What to do with a flagged row, chosen on the preview.
SKIP, NEW, CONTACT = "skip", "new", "contact"
ROW_CHOICES = (SKIP, NEW, CONTACT)


@dataclass
class ImportPlan:
    headers: list[str]
    rows: list[LeadRow] = field(default_factory=list)  # the valid rows, in file order
    issues: list[Issue] = field(default_factory=list)
    error_rows: int = 0
    blank_rows: int = 0
    # Look-alikes outside the importer's territories, by lead id: their managers are told
    # (``tell_managers_of_hidden_duplicates``), the importer is told nothing about them.
    hidden_duplicates: dict[int, Duplicate] = field(default_factory=dict)
    contacts_added: int = 0  # set by ``import_plan``: second visitors added to existing leads

    @property
    def duplicates(self) -> int:
        return sum(1 for r in self.rows if r.duplicate)

    @property
    def new(self) -> int:
        return len(self.rows) - self.duplicates

    @property
    def similar(self) -> int:
        return sum(1 for r in self.rows if r.similar)

    def summary(self) -> dict:
        return {
            "new": self.new,
            "duplicates": self.duplicates,
            "similar": self.similar,
            "errors": self.error_rows,
            "blank": self.blank_rows,
        }

    def report(self, limit: int = 500) -> dict:
        """What the preview page shows: the counts and the first ``limit`` issues."""
        flagged = [r for r in self.rows if r.flagged]
        return {
            **self.summary(),
            "issues": [i.as_dict() for i in self.issues[:limit]],
            "more_issues": max(0, len(self.issues) - limit),
            # The flagged rows the preview offers a choice for; the others take their default.
            "flagged": [
                {
                    "row": r.row,
                    "company_name": r.company_name,
                    "duplicate": r.duplicate,
                    "lead_id": r.match_lead_id,
                    "may_join": r.may_join,
                    "default": r.default_choice(),
                }
                for r in flagged[:limit]
            ],
            "more_flagged": max(0, len(flagged) - limit),
        }


def _reach_of(actor) -> list[tuple[str, str]] | None:
    if actor.role in (Role.REP, Role.MANAGER):
        return [t.code_range for t in actor.territories]
    return None


def plan_import(path: str | Path, mapping: dict[str, int], actor) -> ImportPlan:
    """Read and check every row of the file; write nothing. See ``ImportPlan`` for what comes back."""
    headers, rows = read_table(path)
    mapping = {name: int(index) for name, index in mapping.items() if index is not None and str(index) != ""}
    column = {name: (headers[i] if i < len(headers) and headers[i] else f"#{i + 1}") for name, i in mapping.items()}
    place_fields = [f for f in ("province", "city", "county", "region") if f in mapping]
    place_column = "/".join(dict.fromkeys(column[f] for f in place_fields)) or _("Territory")
    matcher = TerritoryMatcher(_reach_of(actor))
    products = dict(db.session.execute(select(Product.name, Product.id).where(Product.active.is_(True))).all())
    plan = ImportPlan(headers)
    get = dict(mapping)

    seen_phone: dict[str, int] = {}
    seen_uscc: dict[str, int] = {}
    seen_key: dict[str, list[tuple[int, str | None]]] = {}  # name key → (row, its credit code) of each row

    for number, values in enumerate(rows, start=rows.first_number):
        cells = {name: _cell(values[i]) if i < len(values) else "" for name, i in get.items()}
        if not any(cells.values()) and not any(_cell(v) for v in values):
            plan.blank_rows += 1
            continue
        issues: list[Issue] = []

        def error(name, message, _row=number, _issues=issues):
            _issues.append(Issue(_row, column.get(name, name), message))

        name = cells.get("company_name", "")
        if not name:
            error("company_name", _("Enter the company name."))
        phones: list[str] = []
        if cells.get("phone"):
            phones, bad = split_phones(cells["phone"])
            for piece in bad:
                if _EXCEL_SHORTENED.match(piece):
                    error(
                        "phone",
                        _(
                            "“%(phone)s” is a number Excel shortened, and its digits are lost: in Excel, format "
                            "the phone column as Text (文本), enter the numbers again and save the file.",
                            phone=piece,
                        ),
                    )
                    continue
                error(
                    "phone",
                    _(
                        "“%(phone)s” is not a valid phone number: give a mobile, or a landline with its area code.",
                        phone=piece,
                    ),
                )
            for extension in phone_extensions(cells["phone"]):
                issues.append(
                    Issue(
                        number,
                        column.get("phone", "phone"),
                        _("Extension %(ext)s is not kept: only the number before it is stored.", ext=extension),
                        error=False,
                    )
                )
        uscc = None
        if cells.get("uscc"):
            uscc = normalize_uscc(cells["uscc"])
            if uscc is None:
                error("uscc", _("The unified social credit code %(code)s is not valid.", code=cells["uscc"]))
        place_text = " ".join(cells[f] for f in place_fields if cells.get(f))
        territory_code = ""
        if not place_text:
            issues.append(Issue(number, place_column, _("Give the province, city or county.")))
        else:
            place = matcher.match(place_text)
            if place is None:
                issues.append(
                    Issue(number, place_column, _("“%(place)s” is not in the territory list.", place=place_text))
                )
            elif isinstance(place, list):
                issues.append(
                    Issue(
                        number,
                        place_column,
                        _(
                            "“%(place)s” could be %(choices)s: add the province or city.",
                            place=place_text,
                            choices="、".join(p.full_name for p in place[:4]),
                        ),
                    )
                )
            elif not matcher.in_reach(place.code):
                issues.append(
                    Issue(number, place_column, _("%(place)s is outside your territories.", place=place.full_name))
                )
            else:
                territory_code = place.code
        contact = cells.get("contact") or None
        if phones and not contact:
            error("contact", _("Give the name of the contact with phone %(phone)s.", phone=format_phone(phones[0])))
        product_ids = []
        if cells.get("products"):
            for product_name in _PHONE_SPLIT.split(cells["products"]):
                product_name = product_name.strip()
                if not product_name:
                    continue
                if product_name in products:
                    product_ids.append(products[product_name])
                else:
                    issues.append(
                        Issue(
                            number,
                            column["products"],
                            _("No product is called “%(name)s”; it was left out.", name=product_name),
                            error=False,
                        )
                    )
        if any(i.error for i in issues):
            plan.issues += issues
            plan.error_rows += 1
            continue

        key = company_name_key(name)
        lead_row = LeadRow(
            row=number,
            company_name=name,
            name_key=key,
            uscc=uscc,
            territory_code=territory_code,
            address=(cells.get("address") or None),
            contact=contact,
            title=cells.get("title") or None,
            phones=phones,
            product_ids=list(dict.fromkeys(product_ids)),
            notes=cells.get("notes") or None,
        )
        # Duplicates inside the file: the first row with the same phone, code or name.
        earlier = None
        for phone in phones:
            if phone in seen_phone:
                earlier = earlier or ("phone", seen_phone[phone], _("same phone number as row %(row)d"))
        if uscc and uscc in seen_uscc:
            earlier = earlier or ("uscc", seen_uscc[uscc], _("same credit code as row %(row)d"))
        namesake = next((row for row, code in seen_key.get(key, ()) if not _different_companies(uscc, code)), None)
        if earlier:
            name_of_field, row_no, message = earlier
            issues.append(
                Issue(number, column.get(name_of_field, name_of_field), message % {"row": row_no}, error=False)
            )
            lead_row.duplicate = True
        elif key and namesake is not None:
            issues.append(
                Issue(
                    number,
                    column.get("company_name", "company_name"),
                    _("same company name as row %(row)d") % {"row": namesake},
                    error=False,
                )
            )
            lead_row.similar = True
        for phone in phones:
            seen_phone.setdefault(phone, number)
        if uscc:
            seen_uscc.setdefault(uscc, number)
        if key:
            seen_key.setdefault(key, []).append((number, uscc))
        plan.issues += issues
        plan.rows.append(lead_row)

    _flag_existing_duplicates(plan, column, actor)
    plan.issues.sort(key=lambda i: (i.row, not i.error))
    return plan


_CHUNK = 500  # values per IN (…) list


def _chunks(items: list, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _matching(column, values: list[str]) -> list:
    """Conditions that together find the rows whose ``column`` is one of ``values``, one query each.

    PostgreSQL gets ``= ANY(array)``, one parameter per 10,000 values: SQLAlchemy
    rendering and psycopg parsing IN lists of 250,000 placeholders in all made its dry
    run of 100,000 rows take 4.4 s against SQLite's 1.8. SQLite gets IN lists of 500,
    under its limit of bound parameters.
    """
    if db.engine.dialect.name == "postgresql":
        array_type = postgresql.ARRAY(column.type)
        return [column == any_(bindparam(None, chunk, type_=array_type)) for chunk in _chunks(values, 10_000)]
    return [column.in_(chunk) for chunk in _chunks(values)]


# The lead form's rule too: two valid, different credit codes are two companies.
_different_companies = different_companies


def _flag_existing_duplicates(plan: ImportPlan, column: dict[str, str], actor) -> None:
    """``find_duplicates`` for every row at once: a few IN queries instead of three per row.

    A look-alike the importer may see is named, with the field that matched. One outside
    their territories is not: the row says only that one exists elsewhere and that its
    managers are told (an id, a name, a state or the matching field would let a rep probe
    other territories' phone numbers with a list, as ``warn_of_duplicates`` says of the form).
    """
    not_merged = Lead._state != "merged"
    by_uscc: dict[str, tuple] = {}
    by_phone: dict[str, tuple] = {}
    by_key: dict[str, list[tuple[tuple, str | None]]] = {}  # name key → (lead, its credit code) of each
    cols = (Lead.id, Lead.company_name, Lead._state, Lead.territory_code)
    usccs = sorted({r.uscc for r in plan.rows if r.uscc})
    for condition in _matching(Lead.uscc, usccs):
        for *lead, uscc in db.session.execute(select(*cols, Lead.uscc).where(condition, not_merged)):
            by_uscc.setdefault(uscc, tuple(lead))
    phones = sorted({p for r in plan.rows for p in r.phones})
    for condition in _matching(ContactPhone.e164, phones):
        rows = db.session.execute(
            select(*cols, ContactPhone.e164)
            .join(ContactPhone, ContactPhone.lead_id == Lead.id)
            .where(condition, not_merged)
            .order_by(Lead.id)
        )
        for *lead, e164 in rows:
            by_phone.setdefault(e164, tuple(lead))
    keys = sorted({r.name_key for r in plan.rows if r.name_key})
    for condition in _matching(Lead.name_key, keys):
        rows = db.session.execute(
            select(*cols, Lead.uscc, Lead.name_key).where(condition, not_merged).order_by(Lead.id)
        )
        for *lead, uscc, key in rows:
            by_key.setdefault(key, []).append((tuple(lead), uscc))
    if not (by_uscc or by_phone or by_key):
        return
    ranges = reach_ranges(actor)

    def visible(code: str) -> bool:
        return ranges is None or any(low <= code <= high for low, high in ranges)

    for row in plan.rows:
        hits = []
        if row.uscc in by_uscc:
            hits.append(("uscc", by_uscc[row.uscc], _("same credit code")))
        for phone in row.phones:
            if phone in by_phone:
                hits.append(("phone", by_phone[phone], _("same phone number")))
                break
        namesake = next(
            (lead for lead, code in by_key.get(row.name_key, ()) if not _different_companies(row.uscc, code)), None
        )
        if namesake is not None:
            hits.append(("company_name", namesake, _("same company name")))
        elsewhere = False
        for name_of_field, (lead_id, name, state, territory_code), reason in hits:
            if not visible(territory_code):
                # Certain, whichever field matched: a hint instead would tell the name from the phone.
                row.duplicate = True
                elsewhere = True
                hidden = plan.hidden_duplicates.setdefault(lead_id, Duplicate(lead_id, name, state, []))
                if name_of_field not in hidden.fields:
                    hidden.fields.append(name_of_field)
                    hidden.reasons.append(reason)
                continue
            if name_of_field == "company_name":
                row.similar = True
            else:
                row.duplicate = True
            if row.match_lead_id is None:
                row.match_lead_id = lead_id
            plan.issues.append(
                Issue(
                    row.row,
                    column.get(name_of_field, name_of_field),
                    _("looks like existing lead #%(id)d %(name)s (%(reason)s)", id=lead_id, name=name, reason=reason),
                    error=False,
                    lead_id=lead_id,
                )
            )
        if row.duplicate:
            row.similar = False
        if elsewhere:  # once per row, whichever leads and fields matched
            plan.issues.append(
                Issue(
                    row.row,
                    _("Whole row"),
                    _(
                        "A lead that looks like this company exists outside your territories; "
                        "the managers who cover it have been told."
                    ),
                    error=False,
                )
            )


def tell_managers_of_hidden_duplicates(plan: ImportPlan, actor) -> None:
    """Tell the managers of the look-alikes out of the importer's reach, once per (lead, importer).

    Call it after the dry run's reading transaction (it writes); flushes, the caller commits.
    """
    hidden = sorted(plan.hidden_duplicates.values(), key=lambda d: d.lead_id)
    for chunk in _chunks(hidden):
        warn_of_duplicates(chunk, actor)


# --- writing -------------------------------------------------------------------------------------

BATCH = 5000


def _add_contacts_to_leads(rows: list[LeadRow]) -> int:
    """Add each row's person (and the phones the lead does not have yet) to the lead it matches."""
    if not rows:
        return 0
    contacts_table = LeadContact.__table__
    known: set[tuple[int, str]] = set()
    lead_ids = sorted({row.match_lead_id for row in rows})
    for chunk in _chunks(lead_ids):
        known.update(
            db.session.execute(
                select(ContactPhone.lead_id, ContactPhone.e164).where(ContactPhone.lead_id.in_(chunk))
            ).all()
        )
    contact_ids = engine.reserve_ids(contacts_table, len(rows))
    engine.bulk_insert(
        contacts_table,
        [
            {"id": contact_id, "lead_id": row.match_lead_id, "name": row.contact, "title": row.title}
            for contact_id, row in zip(contact_ids, rows, strict=True)
        ],
    )
    phones = []
    for contact_id, row in zip(contact_ids, rows, strict=True):
        for e164 in row.phones:
            if (row.match_lead_id, e164) not in known:
                known.add((row.match_lead_id, e164))
                phones.append({"contact_id": contact_id, "lead_id": row.match_lead_id, "e164": e164})
    if phones:
        engine.bulk_insert(ContactPhone.__table__, phones)
    return len(rows)


def import_plan(
    plan: ImportPlan,
    actor,
    campaign_id: int,
    *,
    include_duplicates: bool = False,
    choices: dict[int, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> int:
    """Insert the plan's valid rows as new leads, and add the second visitors as contacts; flush, let the
    caller commit.

    Each flagged row does what ``choices`` (row → skip | new | contact) says, else its
    default: certain duplicates are skipped (all imported with ``include_duplicates``),
    name-only matches imported. "contact" adds the row's person and phones to the lead
    in the importer's reach it matches (``LeadRow.may_join``); ``plan.contacts_added``
    counts them. Owners: the importing rep, else ``pick_owner``'s rule computed in
    memory for the batch. Returns the number of leads created.
    """
    choices = choices or {}

    def choice(row: LeadRow) -> str:
        wanted = choices.get(row.row)
        if wanted == CONTACT and not row.may_join:
            wanted = None
        return wanted if wanted in ROW_CHOICES else row.default_choice(include_duplicates)

    decided = [(row, choice(row)) for row in plan.rows]
    chosen = [row for row, what in decided if what == NEW]
    now = now or utcnow()
    plan.contacts_added = _add_contacts_to_leads([row for row, what in decided if what == CONTACT])
    owners = None if actor.role == Role.REP else OwnerPicker()
    contacts_table = LeadContact.__table__
    done = 0
    for batch in _chunks(chosen, BATCH):
        records = []
        for row in batch:
            owner = actor.id if owners is None else owners.pick(row.territory_code)
            records.append(
                {
                    "company_name": row.company_name,
                    "name_key": row.name_key,
                    "name_initials": fast_initials(row.company_name),
                    "uscc": row.uscc,
                    "territory_code": row.territory_code,
                    "address": row.address,
                    "campaign_id": campaign_id,
                    "created_by_id": actor.id,
                    "created_at": now,
                    "assignee_id": owner,
                    "in_pool": owner is None,
                    "pooled_at": now if owner is None else None,
                }
            )
        ids = engine.start_many(Lead, records, actor, now=now, comments=[row.notes for row in batch])
        with_contact = [(lead_id, row) for lead_id, row in zip(ids, batch, strict=True) if row.contact]
        if with_contact:
            contact_ids = engine.reserve_ids(contacts_table, len(with_contact))
            engine.bulk_insert(
                contacts_table,
                [
                    {"id": contact_id, "lead_id": lead_id, "name": row.contact, "title": row.title}
                    for contact_id, (lead_id, row) in zip(contact_ids, with_contact, strict=True)
                ],
            )
            phones = [
                {"contact_id": contact_id, "lead_id": lead_id, "e164": e164}
                for contact_id, (lead_id, row) in zip(contact_ids, with_contact, strict=True)
                for e164 in row.phones
            ]
            if phones:
                engine.bulk_insert(ContactPhone.__table__, phones)
        wanted = [
            {"lead_id": lead_id, "product_id": pid}
            for lead_id, row in zip(ids, batch, strict=True)
            for pid in row.product_ids
        ]
        if wanted:
            engine.bulk_insert(lead_products, wanted)
        done += len(batch)
        if progress:
            progress(done, len(chosen))
    db.session.flush()
    return done


# --- jobs (web page and scheduler) ---------------------------------------------------------------


def imports_dir() -> Path:
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


ALLOWED_SUFFIXES = {".csv", ".xlsx"}


def receive_upload(upload, campaign_id: int | None, actor) -> LeadImport:
    """Keep an uploaded list under a server-made name and open its import, with columns guessed.

    Refuses, with the user's message, a missing campaign or file, a type other than
    CSV/XLSX, a file over the size cap, one that expands beyond ``TableLimits`` and one
    that cannot be read as a table (the stored copy is removed then). The file is
    checked in a transaction that only reads. Flushes; the caller commits.
    """
    campaign = db.session.get(Campaign, campaign_id or 0)
    if campaign is None:
        raise ImportFileError(_("Choose the campaign the list came from."))
    if upload is None or not upload.filename:
        raise ImportFileError(_("Choose a CSV or XLSX file."))
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise ImportFileError(_("Only CSV and XLSX files can be imported."))
    limit = max_upload_bytes()
    name = f"{secrets.token_hex(16)}{suffix}"
    path = imports_dir() / name
    upload.save(path)
    try:
        if path.stat().st_size > limit:
            raise ImportFileError(too_large_message())
        with read_transaction(db.session):  # the upload's POST would hold SQLite's write lock meanwhile
            headers = check_table(path)
    except ImportFileError:
        path.unlink(missing_ok=True)
        raise
    job = LeadImport(
        file_name=name,
        original_name=Path(upload.filename).name[:255],
        campaign_id=campaign.id,
        created_by_id=actor.id,
        mapping_json=json.dumps(guess_mapping(headers)),
    )
    db.session.add(job)
    db.session.flush()
    return job


def max_upload_bytes() -> int:
    return current_app.config.get("LEAD_IMPORT_MAX_BYTES", 20 * 1024 * 1024)


def too_large_message() -> str:
    return _(
        "The file is larger than %(mb)d MB. Split it and import the parts.", mb=max(1, max_upload_bytes() // 2**20)
    )


def job_path(job: LeadImport) -> Path:
    return imports_dir() / job.file_name


def _progress_file(job: LeadImport) -> Path:
    return imports_dir() / f"{job.file_name}.progress"


def job_progress(job: LeadImport) -> tuple[int, int]:
    """(rows written, rows to write) of a running import.

    The import runs in one transaction, so its own rows are invisible to others
    until it commits. On PostgreSQL the progress is written by a second connection;
    SQLite allows one writer at a time, so there it goes to a small file beside the
    upload (SQLite installations are one host by nature).
    """
    path = _progress_file(job)
    if job.status == ImportStatus.RUNNING and path.exists():
        try:
            done, total = json.loads(path.read_text())
            return int(done), int(total)
        except (ValueError, OSError):
            pass
    return job.processed_rows, job.total_rows


def _progress_writer(job_id: int, file: Path) -> Callable[[int, int], None]:
    """Records the import's progress where others can see it; each write is also its heartbeat."""
    if db.engine.dialect.name == "sqlite":

        def write_file(done: int, total: int) -> None:
            file.write_text(json.dumps([done, total]))  # its modification time is the heartbeat

        return write_file

    def write_row(done: int, total: int) -> None:
        table = LeadImport.__table__
        with db.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.id == job_id, table.c.status == ImportStatus.RUNNING)
                .values(processed_rows=done, total_rows=total, heartbeat_at=utcnow())
            )

    return write_row


class ImportTakenOver(Exception):
    """This run was taken for dead and the job given to another run; this run's work was rolled back."""


def _finish(job_id: int, attempt: int, **values) -> bool:
    """Set the job's final state, if it is still this run's (running, and not taken over since); not committed."""
    table = LeadImport.__table__
    return bool(
        db.session.execute(
            update(table)
            .where(table.c.id == job_id, table.c.status == ImportStatus.RUNNING, table.c.attempts == attempt)
            .values(**values)
        ).rowcount
    )


def _discard_files(file_name: str, *, upload: bool) -> None:
    directory = imports_dir()
    (directory / f"{file_name}.progress").unlink(missing_ok=True)
    if upload:
        (directory / file_name).unlink(missing_ok=True)


def _store_plan(job: LeadImport, plan: ImportPlan) -> None:
    job.report_json = json.dumps(plan.report(), ensure_ascii=False)
    job.total_rows = len(plan.rows)
    job.status = ImportStatus.PREVIEWED


def refuse_file(job: LeadImport, message: str) -> None:
    """The file turned out to be beyond the limits while it was read: the job fails with why, the file goes."""
    job.status = ImportStatus.FAILED
    job.error_message = message
    job.finished_at = utcnow()
    _discard_files(job.file_name, upload=True)


def start_dry_run(job: LeadImport, mapping: dict[str, int], actor) -> bool:
    """Check the upload with ``mapping`` (``plan_import``), or queue the check for the scheduler when
    the file holds more than LEAD_IMPORT_BACKGROUND_ROWS rows. True when the preview is ready now.

    The file is read in a transaction that only reads: on SQLite a POST's transaction holds
    the write lock, and other users' writes and the scheduler's jobs would wait for the whole
    read. A file found beyond the limits fails the job with the reason (``job.error_message``)
    and is deleted. Commits the mapping before the read; flushes the outcome, the caller commits.
    """
    job_id = job.id
    job.mapping_json = json.dumps(mapping)
    db.session.flush()
    db.session.commit()  # the mapping is kept whatever the check finds
    plan = None
    refusal = None
    with read_transaction(db.session):
        try:
            threshold = current_app.config.get("LEAD_IMPORT_BACKGROUND_ROWS", 2000)
            if count_rows(job_path(job), stop_after=threshold) <= threshold:
                plan = plan_import(job_path(job), mapping, actor)
        except ImportFileError as error:
            refusal = error.message
    job = db.session.get(LeadImport, job_id)
    if refusal is not None:
        refuse_file(job, refusal)
    elif plan is None:
        job.status = ImportStatus.DRY_RUN_QUEUED
        job.report_json = None
    else:
        _store_plan(job, plan)
        tell_managers_of_hidden_duplicates(plan, actor)
    db.session.flush()
    return plan is not None


def claim_next_dry_run(now: datetime | None = None) -> LeadImport | None:
    """Take the oldest queued dry run, atomically (see ``claim_next_job``)."""
    table = LeadImport.__table__
    while True:
        job_id = db.session.scalar(
            select(table.c.id).where(table.c.status == ImportStatus.DRY_RUN_QUEUED).order_by(table.c.id).limit(1)
        )
        if job_id is None:
            db.session.rollback()
            return None
        started = now or utcnow()
        claimed = db.session.execute(
            update(table)
            .where(table.c.id == job_id, table.c.status == ImportStatus.DRY_RUN_QUEUED)
            .values(
                status=ImportStatus.CHECKING, started_at=started, heartbeat_at=started, attempts=table.c.attempts + 1
            )
        ).rowcount
        db.session.commit()
        if claimed:
            return db.session.get(LeadImport, job_id)


def run_dry_run_job(job: LeadImport, actor) -> bool:
    """The scheduler's dry run of a large upload: the preview is ready after it, or the job failed with why.

    Reads in a transaction that only reads (see ``start_dry_run``); commits. True when the
    preview is ready. A run taken for dead meanwhile (``recover_stalled_imports``) keeps nothing.
    """
    job_id, attempt, mapping, path = job.id, job.attempts, job.mapping, job_path(job)
    values: dict = {}
    try:
        with read_transaction(db.session):
            plan = plan_import(path, mapping, actor)
        values = {
            "status": ImportStatus.PREVIEWED,
            "report_json": json.dumps(plan.report(), ensure_ascii=False),
            "total_rows": len(plan.rows),
            "attempts": 0,  # the import's own runs count from here
        }
    except ImportFileError as error:
        values = {"status": ImportStatus.FAILED, "error_message": error.message, "finished_at": utcnow()}
    except Exception:
        current_app.logger.exception("dry run of lead import %s failed", job_id)
        values = {"status": ImportStatus.FAILED, "error_message": _("The check failed."), "finished_at": utcnow()}
    if values["status"] == ImportStatus.PREVIEWED:
        tell_managers_of_hidden_duplicates(plan, actor)
    table = LeadImport.__table__
    ours = db.session.execute(
        update(table)
        .where(table.c.id == job_id, table.c.status == ImportStatus.CHECKING, table.c.attempts == attempt)
        .values(**values)
    ).rowcount
    db.session.commit()
    if ours and values["status"] == ImportStatus.FAILED:
        _discard_files(job.file_name, upload=True)
    return bool(ours) and values["status"] == ImportStatus.PREVIEWED


def run_import_job(job: LeadImport, actor) -> int:
    """Validate the file again (the database may have changed since the preview) and import it.

    Commits on success; on failure rolls back every lead and marks the job failed. Either
    way the uploaded file is deleted then (the report stays in the job's row). If the job
    was meanwhile queued again because this run looked dead (see ``recover_stalled_imports``),
    nothing of this run is kept and the job and its file are left to the run that has it now.
    """
    job_id, attempt, file_name = job.id, job.attempts, job.file_name
    finished = False
    try:
        path, mapping = job_path(job), job.mapping
        # Parsing takes no write lock (see ``start_dry_run``); only writing the leads does.
        with read_transaction(db.session):
            plan = plan_import(path, mapping, actor)
        job = db.session.get(LeadImport, job_id)
        count = import_plan(
            plan,
            actor,
            job.campaign_id,
            include_duplicates=job.include_duplicates,
            choices=job.choices,
            progress=_progress_writer(job_id, _progress_file(job)),
        )
        ours = _finish(
            job_id,
            attempt,
            status=ImportStatus.DONE,
            imported_count=count,
            processed_rows=count,
            total_rows=count,
            report_json=json.dumps({**plan.report(), "contacts_added": plan.contacts_added}, ensure_ascii=False),
            finished_at=utcnow(),
        )
        if not ours:
            raise ImportTakenOver(f"import #{job_id} was taken over by another run; its leads were rolled back")
        db.session.commit()
        finished = True
        return count
    except Exception as failure:
        db.session.rollback()
        ours = not isinstance(failure, ImportTakenOver) and _finish(
            job_id,
            attempt,
            status=ImportStatus.FAILED,
            error_message=getattr(failure, "message", None) or _("The import failed."),
            finished_at=utcnow(),
        )
        db.session.commit()
        finished = ours  # only once the final state is committed may the file go
        raise
    finally:
        if finished:
            _discard_files(file_name, upload=True)


def claim_next_job(now: datetime | None = None) -> LeadImport | None:
    """Take the oldest queued import, atomically: of two schedulers, one wins the UPDATE."""
    table = LeadImport.__table__
    while True:
        job_id = db.session.scalar(
            select(table.c.id).where(table.c.status == ImportStatus.QUEUED).order_by(table.c.id).limit(1)
        )
        if job_id is None:
            db.session.rollback()
            return None
        started = now or utcnow()
        claimed = db.session.execute(
            update(table)
            .where(table.c.id == job_id, table.c.status == ImportStatus.QUEUED)
            .values(
                status=ImportStatus.RUNNING,
                started_at=started,
                heartbeat_at=started,
                processed_rows=0,
                attempts=table.c.attempts + 1,
            )
        ).rowcount
        db.session.commit()
        if claimed:
            return db.session.get(LeadImport, job_id)


# --- recovery and clean-up (the scheduler job, before and after the imports) ---------------------

MAX_ATTEMPTS = 2  # a stalled import is queued again once; stalled a second time, it has failed


def _last_seen():
    table = LeadImport.__table__
    return func.coalesce(table.c.heartbeat_at, table.c.started_at, table.c.created_at)


def _file_time(path: Path) -> datetime | None:
    """The file's modification time as naive UTC, like the timestamp columns; None if it is gone."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    except FileNotFoundError:
        return None


def _stalled_imports(cutoff: datetime) -> list[tuple[int, str, int, str]]:
    """(id, file name, attempts, status) of the running imports and dry runs with no sign of life since ``cutoff``.

    A sign of life is the claim, a progress row write (PostgreSQL) or the progress file's
    modification time (SQLite). The read transaction ends here.
    """
    table = LeadImport.__table__
    rows = db.session.execute(
        select(table.c.id, table.c.file_name, table.c.attempts, table.c.status)
        .where(table.c.status.in_((ImportStatus.RUNNING, ImportStatus.CHECKING)), _last_seen() < cutoff)
        .order_by(table.c.id)
    ).all()
    db.session.commit()
    stalled = []
    for job_id, file_name, attempts, status in rows:
        touched = _file_time(imports_dir() / f"{file_name}.progress")
        if touched is None or touched < cutoff:
            stalled.append((job_id, file_name, attempts, status))
    return stalled


def recover_stalled_imports(now: datetime | None = None) -> list[str]:
    """Running imports whose process died (progress still for LEAD_IMPORT_STALE_MINUTES): queue each
    again once, and mark it failed when it stalls again. Their leads were rolled back with the dead
    transaction, so a new run starts from scratch. Safe to run concurrently: each change is a
    conditional UPDATE on the state that was read, so one run wins it."""
    now = now or utcnow()
    cutoff = now - timedelta(minutes=current_app.config.get("LEAD_IMPORT_STALE_MINUTES", 15))
    table = LeadImport.__table__
    done = []
    for job_id, file_name, attempts, status in _stalled_imports(cutoff):
        give_up = attempts >= MAX_ATTEMPTS
        again = ImportStatus.DRY_RUN_QUEUED if status == ImportStatus.CHECKING else ImportStatus.QUEUED
        if give_up:
            values = {
                "status": ImportStatus.FAILED,
                "error_message": _("The import was interrupted. Upload the file again."),
                "finished_at": now,
            }
        else:
            values = {"status": again, "processed_rows": 0, "heartbeat_at": None}
        changed = db.session.execute(
            update(table)
            .where(
                table.c.id == job_id,
                table.c.status == status,
                table.c.attempts == attempts,
                _last_seen() < cutoff,
            )
            .values(**values)
        ).rowcount
        db.session.commit()
        if not changed:  # another scheduler got there first, or the import moved meanwhile
            continue
        _discard_files(file_name, upload=give_up)
        done.append(f"#{job_id}: stalled, " + ("failed" if give_up else "queued again"))
    return done


_UPLOAD_NAME = re.compile(r"^[0-9a-f]{32}\.(?:csv|xlsx)$")


def sweep_import_files(now: datetime | None = None) -> tuple[int, int]:
    """(uploads closed, files deleted): uploads nobody imported within LEAD_IMPORT_KEEP_DAYS are marked
    failed, then the files of finished imports are deleted, and files no import names once they are
    as old. The imports' rows, with their reports, stay."""
    now = now or utcnow()
    days = current_app.config.get("LEAD_IMPORT_KEEP_DAYS", 7)
    cutoff = now - timedelta(days=days)
    table = LeadImport.__table__
    closed = db.session.execute(
        update(table)
        .where(
            table.c.status.in_((ImportStatus.UPLOADED, ImportStatus.PREVIEWED)),
            table.c.created_at < cutoff,
        )
        .values(
            status=ImportStatus.FAILED,
            error_message=_(
                "The file was not imported within %(days)d days of its upload and has been deleted. "
                "Upload it again to import it.",
                days=days,
            ),
            finished_at=now,
        )
    ).rowcount
    db.session.commit()

    files = {}
    for path in imports_dir().iterdir():
        upload_name = path.name.removesuffix(".progress")
        if _UPLOAD_NAME.match(upload_name) and path.is_file():
            files.setdefault(upload_name, []).append(path)
    status_of: dict[str, str] = {}
    for chunk in _chunks(sorted(files)):
        status_of.update(
            db.session.execute(select(table.c.file_name, table.c.status).where(table.c.file_name.in_(chunk))).all()
        )
    db.session.commit()
    removed = 0
    for upload_name, paths in files.items():
        status = status_of.get(upload_name)
        for path in paths:
            if status in ImportStatus.FINISHED or (status is None and (_file_time(path) or now) < cutoff):
                path.unlink(missing_ok=True)
                removed += 1
    return closed, removed


def run_queued_imports(now: datetime | None = None) -> str | None:
    """Scheduler job: recover imports whose process died, check every large file queued for its dry
    run, import every queued large file one after another, then delete the files no import needs."""
    done = recover_stalled_imports(now)
    while (job := claim_next_dry_run()) is not None:
        actor = db.session.get(User, job.created_by_id)
        ready = run_dry_run_job(job, actor)
        done.append(f"#{job.id}: " + ("checked" if ready else "check failed"))
    while (job := claim_next_job()) is not None:
        actor = db.session.get(User, job.created_by_id)
        try:
            count = run_import_job(job, actor)
            done.append(f"#{job.id}: {count} leads")
        except Exception as failure:  # the job row says it failed; the next job still runs
            done.append(f"#{job.id}: failed ({failure})")
    closed, removed = sweep_import_files(now)
    if closed:
        done.append(f"{closed} uploads not imported in time closed")
    if removed:
        done.append(f"{removed} import files deleted")
    return "; ".join(done) or None
