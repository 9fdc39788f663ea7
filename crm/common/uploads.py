"""Uploaded files: type decided by content, size capped, stored under a server-made name
outside ``static/``, and served only through a view that has already checked access.

A client's file name and Content-Type are never trusted (OWASP ASVS V5.2/V5.3).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import abort, current_app, send_from_directory


@dataclass(frozen=True)
class FileKind:
    extension: str
    mimetype: str
    signatures: tuple[bytes, ...] = ()

    def matches(self, data: bytes) -> bool:
        if self.extension == "webp":  # RIFF....WEBP
            return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        return any(data.startswith(signature) for signature in self.signatures)


JPEG = FileKind("jpg", "image/jpeg", (b"\xff\xd8\xff",))
PNG = FileKind("png", "image/png", (b"\x89PNG\r\n\x1a\n",))
WEBP = FileKind("webp", "image/webp")
PDF = FileKind("pdf", "application/pdf", (b"%PDF-",))

IMAGES = (JPEG, PNG, WEBP)
DOCUMENTS = (PDF, JPEG, PNG)  # scanned licences and letters
_BY_EXTENSION = {kind.extension: kind for kind in (JPEG, PNG, WEBP, PDF)}
_STORED_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z]{3,4}$")


def sniff(data: bytes, kinds=IMAGES) -> FileKind | None:
    """The kind among ``kinds`` that the bytes really are, or None."""
    return next((kind for kind in kinds if kind.matches(data)), None)


def read_limited(upload, max_bytes: int) -> bytes | None:
    """An uploaded file's bytes, read no further than one byte past ``max_bytes`` (so the caller can refuse it)."""
    if not upload or not getattr(upload, "filename", None):
        return None
    return upload.stream.read(max_bytes + 1) or None


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


def _directory(area: str) -> Path:
    return Path(current_app.instance_path) / "uploads" / area


def store(data: bytes, kind: FileKind, area: str) -> str:
    """Write checked bytes to ``instance/uploads/<area>/`` under a random name; return that name."""
    name = f"{secrets.token_hex(16)}.{kind.extension}"
    directory = _directory(area)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)
    return name


def path_of(area: str, name: str) -> Path:
    """Where a stored file lives; a name we did not make (``../x``, ``a/b``) is refused."""
    if not _STORED_NAME.match(name or ""):
        raise ValueError(f"not a stored file name: {name!r}")
    return _directory(area) / name


def send_stored(area: str, name: str):
    """Answer with a stored file. Call only after the caller checked the user may see it; 404 if gone."""
    if not _STORED_NAME.match(name or ""):
        abort(404)
    kind = _BY_EXTENSION.get(name.rsplit(".", 1)[-1])
    if kind is None:
        abort(404)
    response = send_from_directory(_directory(area), name, mimetype=kind.mimetype, max_age=0)
    response.headers["Cache-Control"] = "private, max-age=0"
    return response
