"""Configuration, read from the environment (see README "Configuration")."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("CRM_INSTANCE_DIR", BASE_DIR / "instance"))


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def database_url() -> str:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'crm.sqlite3'}"
    # Heroku-style URLs name the dialect "postgres"; SQLAlchemy wants the driver spelled out.
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "")
    SQLALCHEMY_DATABASE_URI = database_url()
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SQLITE_BUSY_TIMEOUT_MS = int(os.environ.get("SQLITE_BUSY_TIMEOUT_MS", "5000"))

    # The maker: 供货单位 and 生产厂商 on every 随货同行单.
    MAKER_NAME = os.environ.get("CRM_MAKER_NAME", "示范制药股份有限公司")

    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_CN", "en")

    # Cookies: HttpOnly and SameSite always; Secure whenever the site is served over HTTPS.
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "crm_session"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION_DAYS = int(os.environ.get("REMEMBER_DAYS", "14"))
    SESSION_IDLE_HOURS = int(os.environ.get("SESSION_IDLE_HOURS", "12"))

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Login throttling (counted in the database, so it holds across workers and hosts; see
    # crm.auth.services.authenticate). An account is locked for the window after its failures;
    # an address is not locked but paced: past its failures, it waits between password checks,
    # 1 s doubling per further failure up to LOGIN_MAX_DELAY_SECONDS.
    LOGIN_WINDOW_MINUTES = int(os.environ.get("LOGIN_WINDOW_MINUTES", "15"))
    LOGIN_MAX_FAILURES_PER_ACCOUNT = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", "5"))
    LOGIN_MAX_FAILURES_PER_IP = int(os.environ.get("LOGIN_MAX_FAILURES_PER_IP", "20"))
    LOGIN_MAX_DELAY_SECONDS = int(os.environ.get("LOGIN_MAX_DELAY_SECONDS", "60"))
    # Number of reverse proxies in front of the app whose X-Forwarded-For we trust.
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "0"))

    # Argon2id parameters: at or above the OWASP cheat-sheet minimum (19 MiB, t=2, p=1).
    ARGON2_MEMORY_KIB = int(os.environ.get("ARGON2_MEMORY_KIB", str(19 * 1024)))
    ARGON2_TIME_COST = int(os.environ.get("ARGON2_TIME_COST", "2"))
    ARGON2_PARALLELISM = 1
    PASSWORD_MIN_LENGTH = 10

    # Working time for SLA deadlines (Asia/Shanghai). Weekdays: 0 = Monday.
    SLA_WORKDAY_START = os.environ.get("SLA_WORKDAY_START", "09:00")
    SLA_WORKDAY_END = os.environ.get("SLA_WORKDAY_END", "18:00")
    SLA_LUNCH_BREAK = os.environ.get("SLA_LUNCH_BREAK", "")  # e.g. "12:00-13:00"
    SLA_WORKING_WEEKDAYS = os.environ.get("SLA_WORKING_WEEKDAYS", "0,1,2,3,4")
    SLA_SWEEP_SECONDS = int(os.environ.get("SLA_SWEEP_SECONDS", "60"))

    # Notifications: the inbox is always on; email and a group robot are the external channels.
    SMTP_HOST = os.environ.get("SMTP_HOST", "")  # empty: mail goes to instance/outbox/ as .eml files
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "587"))
    SMTP_USER = os.environ.get("SMTP_USER", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_STARTTLS = _bool("SMTP_STARTTLS", True)
    MAIL_FROM = os.environ.get("MAIL_FROM", "招商通 <crm@localhost>")
    NOTIFY_EMAIL = _bool("NOTIFY_EMAIL", True)
    NOTIFY_WEBHOOK_URL = os.environ.get("NOTIFY_WEBHOOK_URL", "")
    NOTIFY_WEBHOOK_KIND = os.environ.get("NOTIFY_WEBHOOK_KIND", "wecom")  # wecom | dingtalk
    NOTIFY_BASE_URL = os.environ.get("NOTIFY_BASE_URL", "")  # e.g. https://crm.example.com, for links in messages
    NOTIFY_DELIVERY_SECONDS = int(os.environ.get("NOTIFY_DELIVERY_SECONDS", "30"))
    NOTIFY_MAX_ATTEMPTS = int(os.environ.get("NOTIFY_MAX_ATTEMPTS", "5"))

    SCHEDULER_ENABLED = True
    PAGE_SIZE = 50
    # Lead import: upload size cap; files with more rows than this import in the scheduler process.
    LEAD_IMPORT_MAX_BYTES = int(os.environ.get("LEAD_IMPORT_MAX_BYTES", str(20 * 1024 * 1024)))
    LEAD_IMPORT_BACKGROUND_ROWS = int(os.environ.get("LEAD_IMPORT_BACKGROUND_ROWS", "2000"))
    LEAD_IMPORT_POLL_SECONDS = int(os.environ.get("LEAD_IMPORT_POLL_SECONDS", "5"))
    # How far an uploaded list may expand (a 500 KB XLSX can hold a million rows): beyond any of
    # these it is refused with a message. Files with more than LEAD_IMPORT_BACKGROUND_ROWS rows
    # are also checked (the dry run) in the scheduler process, not in a web worker.
    LEAD_IMPORT_MAX_ROWS = int(os.environ.get("LEAD_IMPORT_MAX_ROWS", "100000"))
    LEAD_IMPORT_MAX_COLUMNS = int(os.environ.get("LEAD_IMPORT_MAX_COLUMNS", "100"))
    LEAD_IMPORT_MAX_CELL_CHARS = int(os.environ.get("LEAD_IMPORT_MAX_CELL_CHARS", "5000"))
    LEAD_IMPORT_MAX_UNCOMPRESSED_BYTES = int(
        os.environ.get("LEAD_IMPORT_MAX_UNCOMPRESSED_BYTES", str(100 * 1024 * 1024))
    )
    # A background import whose progress has not moved for this long is taken to have lost its process:
    # it is queued again once, then marked failed. Uploads never imported are deleted after KEEP_DAYS.
    LEAD_IMPORT_STALE_MINUTES = int(os.environ.get("LEAD_IMPORT_STALE_MINUTES", "15"))
    LEAD_IMPORT_KEEP_DAYS = int(os.environ.get("LEAD_IMPORT_KEEP_DAYS", "7"))
    # Lot import (批号, crm/orders/lot_import.py): checked and created in the request, so kept small;
    # columns, cell size and XLSX expansion are bounded as for leads (LEAD_IMPORT_MAX_*).
    LOT_IMPORT_MAX_BYTES = int(os.environ.get("LOT_IMPORT_MAX_BYTES", str(5 * 1024 * 1024)))
    LOT_IMPORT_MAX_ROWS = int(os.environ.get("LOT_IMPORT_MAX_ROWS", "5000"))
    LOT_IMPORT_MAX_COLUMNS = int(os.environ.get("LOT_IMPORT_MAX_COLUMNS", "50"))
    LOT_IMPORT_MAX_CELL_CHARS = int(os.environ.get("LOT_IMPORT_MAX_CELL_CHARS", "500"))
    LOT_IMPORT_MAX_UNCOMPRESSED_BYTES = int(os.environ.get("LOT_IMPORT_MAX_UNCOMPRESSED_BYTES", str(20 * 1024 * 1024)))
    # A touch photo (JPEG, PNG or WebP, checked by content) is refused above this size.
    TOUCH_PHOTO_MAX_BYTES = int(os.environ.get("TOUCH_PHOTO_MAX_BYTES", str(8 * 1024 * 1024)))
    # A qualification document of a screening case (PDF, JPEG or PNG, checked by content) is refused above this size.
    DOCUMENT_MAX_BYTES = int(os.environ.get("DOCUMENT_MAX_BYTES", str(10 * 1024 * 1024)))
    # No request body beyond the largest upload we accept (plus form overhead): Werkzeug
    # refuses it with 413 before it is spooled to disk.
    MAX_CONTENT_LENGTH = max(LEAD_IMPORT_MAX_BYTES, TOUCH_PHOTO_MAX_BYTES, DOCUMENT_MAX_BYTES) + 1024 * 1024
    # An XLSX export of a list (leads, orders) holds at most this many rows; beyond it the user narrows the filters.
    EXPORT_MAX_ROWS = int(os.environ.get("EXPORT_MAX_ROWS") or os.environ.get("LEAD_EXPORT_MAX_ROWS") or "50000")
    # A lead its owner has not touched for this many working days returns to its territory's pool (公海).
    LEAD_POOL_DAYS = int(os.environ.get("LEAD_POOL_DAYS", "10"))
    # A rep cannot claim pool leads while owning this many open leads.
    LEAD_MAX_OPEN_PER_REP = int(os.environ.get("LEAD_MAX_OPEN_PER_REP", "200"))
    # The licence watch (expiring drug-trading licences and GSP certificates) runs daily at this hour,
    # Asia/Shanghai, and once when the scheduler starts.
    LICENCE_WATCH_HOUR = int(os.environ.get("LICENCE_WATCH_HOUR", "7"))


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105 (tests only)
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
