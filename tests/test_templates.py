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
