"""Validation of Chinese business identifiers."""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# GB 32100-2015: 统一社会信用代码, 18 characters, the last a check character.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# [0-9], not \d: a str pattern's \d also matches Arabic-Indic and other digits that NFKC keeps.
_USCC_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")

# 国药准字: H chemical, Z TCM, S biological, J imported (sub-packaged), B health, F excipient,
# T in-vitro diagnostic; HJ/ZJ/SJ made abroad, HC/ZC/SC made in HK/Macao/Taiwan.
_APPROVAL_NUMBER = re.compile(r"^国药准字(?:HJ|ZJ|SJ|HC|ZC|SC|H|Z|S|J|B|F|T)[0-9]{8}$")


def normalize_text(value: str | None) -> str:
    """Full-width to half-width, surrounding and inner blanks removed."""
    if not value:
        return ""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value))


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def normalize_uscc(value: str | None) -> str | None:
    """Return the canonical USCC, or None when it is not a valid one."""
    code = normalize_text(value).upper()
    if not _USCC_SHAPE.match(code):
        return None
    return code if uscc_check_char(code[:17]) == code[17] else None


def normalize_approval_number(value: str | None) -> str | None:
    """Return the canonical 国药准字 number, or None when the format is wrong."""
    number = normalize_text(value).upper().replace("国药准字".upper(), "国药准字")
    return number if _APPROVAL_NUMBER.match(number) else None


CENT = Decimal("0.01")
MONEY_LIMIT = Decimal("1e12")  # Numeric(14, 2) holds less than a trillion yuan


def parse_amount(raw, *, places: Decimal = CENT, allow_zero: bool = False) -> Decimal | None:
    """An amount of yuan a user typed ("1,234.5", "１２３", "¥88"), rounded to ``places``; None when it is not one.

    Refuses negatives, NaN and infinities, and zero unless ``allow_zero``.
    """
    text = unicodedata.normalize("NFKC", str(raw or "")).strip().lstrip("¥￥").replace(",", "").strip()
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or (amount == 0 and not allow_zero) or amount >= MONEY_LIMIT:
        return None
    return amount.quantize(places, ROUND_HALF_UP)
