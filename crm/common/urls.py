"""Where a request may send the browser next: only to a page of this site.

Every ``next`` the app follows (after signing in, switching the language,
opening a notification) goes through :func:`safe_next`; a test fails if a view
reads ``next`` from the request without it.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

# Percent-decoding more than this often is not something a browser or proxy does;
# a value still changing after it is refused.
_DECODE_ROUNDS = 3


def _has_control(text: str) -> bool:
    """C0 controls (tab, CR, LF, NUL …) and DEL: parsers drop or mangle them."""
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


def _is_plain_path(text: str) -> bool:
    """One leading ``/``, no backslash, no control character, and no scheme or host as Python reads it."""
    if not text.startswith("/") or text.startswith("//") or "\\" in text or _has_control(text):
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc


def safe_next(value: str | None, default: str) -> str:
    """``value`` when it is a path on this site, else ``default`` (no open redirect).

    ``next`` comes from the request, so anyone can write a link that carries one.
    Browsers, Werkzeug and Python do not read a URL as it is written: they drop
    tabs and line breaks anywhere and controls and spaces at either end (the
    WHATWG URL standard; ``urlsplit`` likewise), read ``\\`` as ``/``, and a
    proxy or a later decode may turn ``%2F`` into ``/``. So ``/\\t/evil.example``
    left Werkzeug's redirect as ``//evil.example``: another site. Rather than
    repair such a value we refuse it, since no page of ours writes one: what is
    accepted is a path that starts with a single ``/``, holds no control
    character, whitespace or backslash, and stays such a path (no scheme, no
    host) when its path part is percent-decoded again and again.
    ``default`` is the app's own (``url_for``) and is returned unchecked.
    """
    if not isinstance(value, str) or not _is_plain_path(value) or any(char.isspace() for char in value):
        return default
    path = urlsplit(value).path
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(path)
        if decoded == path:
            return value
        if not _is_plain_path(decoded):
            return default
        path = decoded
    return default
