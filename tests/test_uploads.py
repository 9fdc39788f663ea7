"""Uploads: the type comes from the bytes, names from the server, reads stop at the limit."""

from __future__ import annotations

import io

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import NotFound

from crm.common import uploads

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 32
WEBP = b"RIFF\x24\0\0\0WEBPVP8 " + b"\0" * 32
PDF = b"%PDF-1.7\n" + b"\0" * 32
EXE = b"MZ\x90\0" + b"\0" * 32  # a Windows program, whatever its name says


@pytest.mark.parametrize(
    ("data", "kinds", "expected"),
    [
        (PNG, uploads.IMAGES, "png"),
        (JPEG, uploads.IMAGES, "jpg"),
        (WEBP, uploads.IMAGES, "webp"),
        (PDF, uploads.IMAGES, None),  # a PDF is not a photo
        (PDF, uploads.DOCUMENTS, "pdf"),
        (EXE, uploads.DOCUMENTS, None),
        (b"", uploads.DOCUMENTS, None),
        (b"RIFF\0\0\0\0WAVE", uploads.IMAGES, None),
    ],
)
def test_kind_is_decided_by_content(data, kinds, expected):
    kind = uploads.sniff(data, kinds)
    assert (kind.extension if kind else None) == expected


def test_a_renamed_executable_is_not_an_image():
    upload = FileStorage(io.BytesIO(EXE), filename="营业执照.jpg", content_type="image/jpeg")
    data = uploads.read_limited(upload, 1024)
    assert uploads.sniff(data, uploads.DOCUMENTS) is None


def test_reads_stop_one_byte_past_the_limit():
    upload = FileStorage(io.BytesIO(b"x" * 10_000), filename="big.png")
    assert len(uploads.read_limited(upload, 100)) == 101
    assert uploads.read_limited(FileStorage(io.BytesIO(b""), filename=""), 100) is None


def test_files_are_stored_under_server_names_and_served_only_by_them(app):
    with app.test_request_context():
        name = uploads.store(PDF, uploads.PDF, "licences")
        assert name.endswith(".pdf")
        assert uploads.path_of("licences", name).read_bytes() == PDF
        response = uploads.send_stored("licences", name)
        assert response.mimetype == "application/pdf"
        assert response.headers["Cache-Control"] == "private, max-age=0"
        response.close()
        for hostile in ("../secret_key", "../../config.py", "a/b.pdf", "营业执照.pdf", ""):
            with pytest.raises(ValueError, match="not a stored file name"):
                uploads.path_of("licences", hostile)
            with pytest.raises(NotFound):
                uploads.send_stored("licences", hostile)
