"""统一社会信用代码 (GB 32100-2015) and 国药准字 approval numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.common.validators import normalize_approval_number, normalize_uscc, uscc_check_char

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015 table 1: no I, O, S, V, Z
DIGITS = "0123456789"
KNOWN_USCC = "91350100M000100Y43"

# A code as the standard lays it out: registration authority and entity type (2),
# administrative division of the registering office (6 digits), organisation code (9).
well_formed_prefix = st.builds(
    lambda head, region, body: head + region + body,
    st.text(USCC_ALPHABET, min_size=2, max_size=2),
    st.text(DIGITS, min_size=6, max_size=6),
    st.text(USCC_ALPHABET, min_size=9, max_size=9),
)


def to_full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


# --- USCC -------------------------------------------------------------------


def test_known_valid_code_is_accepted():
    assert normalize_uscc(KNOWN_USCC) == KNOWN_USCC
    assert uscc_check_char(KNOWN_USCC[:17]) == "3"


@pytest.mark.parametrize(
    "typed",
    [
        "91350100m000100y43",
        to_full_width(KNOWN_USCC),
        "9135 0100 M000 100Y 43",
        "  91350100M000100Y43\t",
        "9135\u30000100M000100Y43",  # ideographic space from a Chinese IME
        to_full_width("91350100m000100y43"),
    ],
)
def test_uscc_typing_variants_are_normalised(typed):
    assert normalize_uscc(typed) == KNOWN_USCC


@pytest.mark.parametrize(
    "wrong",
    [
        "91350100M000100Y44",  # wrong check character
        "91350100M000100Y4",  # 17 characters
        "91350100M000100Y433",  # 19 characters
        "",
        None,
        "   ",
    ],
)
def test_uscc_wrong_check_or_length_is_refused(wrong):
    assert normalize_uscc(wrong) is None


@pytest.mark.parametrize("letter", list("IOSVZ"))
def test_uscc_letters_outside_the_alphabet_are_refused(letter):
    # Put the letter into the organisation code and fix up nothing else: refused whatever the check char.
    first17 = KNOWN_USCC[:10] + letter + KNOWN_USCC[11:17]
    for check in USCC_ALPHABET + letter:
        assert normalize_uscc(first17 + check) is None


def test_uscc_region_part_must_be_digits():
    first17 = "91" + "3501A0" + "M000100Y4"
    assert normalize_uscc(first17 + uscc_check_char(first17)) is None


@given(well_formed_prefix)
def test_any_well_formed_prefix_with_its_check_char_validates(first17):
    check = uscc_check_char(first17)
    assert check in USCC_ALPHABET
    assert normalize_uscc(first17 + check) == first17 + check
    assert normalize_uscc((first17 + check).lower()) == first17 + check


@given(well_formed_prefix, st.sampled_from(USCC_ALPHABET))
def test_any_other_last_char_fails(first17, last):
    if last == uscc_check_char(first17):
        last = USCC_ALPHABET[(USCC_ALPHABET.index(last) + 1) % len(USCC_ALPHABET)]
    assert normalize_uscc(first17 + last) is None


@given(st.text(USCC_ALPHABET, min_size=17, max_size=17))
def test_any_prefix_from_the_alphabet_validates_exactly_when_its_region_is_digits(first17):
    code = first17 + uscc_check_char(first17)
    expected = code if first17[2:8].isdigit() else None
    assert normalize_uscc(code) == expected


@given(st.text(max_size=30))
def test_uscc_never_crashes_on_arbitrary_input(text):
    result = normalize_uscc(text)
    assert result is None or (len(result) == 18 and set(result) <= set(USCC_ALPHABET))


@pytest.mark.parametrize("digit", ["\u0663", "\u096a", "\U0001d7d1"])  # Arabic-Indic 3, Devanagari 4, math 3
def test_uscc_non_ascii_digits_are_refused_not_a_crash(digit):
    # Such digits are "\d" to a Unicode regex but not in the GB 32100 alphabet.
    first17 = KNOWN_USCC[:3] + digit + KNOWN_USCC[4:17]
    for check in USCC_ALPHABET:
        result = normalize_uscc(first17 + check)
        assert result is None or set(result) <= set(USCC_ALPHABET)


# --- 国药准字 ---------------------------------------------------------------

APPROVAL_LETTERS = ["H", "Z", "S", "J", "B", "F", "T", "HJ", "ZJ", "SJ", "HC", "ZC", "SC"]


@pytest.mark.parametrize("letters", APPROVAL_LETTERS)
def test_every_approval_category_is_accepted(letters):
    number = f"国药准字{letters}20003263"
    assert normalize_approval_number(number) == number


@given(st.sampled_from(APPROVAL_LETTERS), st.text(DIGITS, min_size=8, max_size=8))
def test_any_category_with_eight_digits_is_accepted_and_variants_normalise(letters, digits):
    canonical = f"国药准字{letters}{digits}"
    assert normalize_approval_number(canonical) == canonical
    assert normalize_approval_number(f"国药准字{letters.lower()}{digits}") == canonical
    assert normalize_approval_number(f"国药准字{to_full_width(letters + digits)}") == canonical
    assert normalize_approval_number(f" 国药准字 {letters} {digits[:4]} {digits[4:]} ") == canonical


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("国药准字h20003263", "国药准字H20003263"),
        ("国药准字Ｈ２０００３２６３", "国药准字H20003263"),
        ("国药准字 Z 1002 0001", "国药准字Z10020001"),
        ("\u3000国药准字hj20150011\u3000", "国药准字HJ20150011"),
        ("国药准字ｓｃ２０１７０００１", "国药准字SC20170001"),
    ],
)
def test_approval_number_typing_variants_are_normalised(typed, canonical):
    assert normalize_approval_number(typed) == canonical


@pytest.mark.parametrize(
    "wrong",
    [
        "H20003263",  # the 国药准字 prefix is part of the number
        "国药准字H2000326",  # 7 digits
        "国药准字H200032631",  # 9 digits
        "国药准字X20003263",  # no such category
        "国药准字HZ20003263",
        "国药准字JH20003263",
        "国药准字20003263",
        "国药准字H2000326A",
        "国药准字H2000326\u0663",  # Arabic-Indic digit: not a digit on a Chinese licence
        "国食健字G20003263",
        "",
        None,
    ],
)
def test_other_approval_numbers_are_refused(wrong):
    assert normalize_approval_number(wrong) is None
