"""No template turns autoescaping off: free text is escaped by construction, not by remembering |e."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_no_template_turns_autoescaping_off():
    offending = sorted(
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if re.search(r"{%-?\s*autoescape\s+false", path.read_text("utf-8"))
    )
    assert not offending, f"templates that turn autoescaping off: {offending}"


def test_page_titles_hold_text_only():
    """The browser shows a <title>'s content as text: a tag put there shows up in the tab and never runs."""
    offending = sorted(
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        for title in re.findall(r"{%-?\s*block title\s*-?%}(.*?){%-?\s*endblock", path.read_text("utf-8"), re.S)
        if "<" in title
    )
    assert not offending, f"templates with markup in their title: {offending}"
