"""An uploaded lead list on its way in: the file, the column mapping, the dry-run report, the import's progress."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.common.time import utcnow
from crm.extensions import db


class ImportStatus:
    UPLOADED = "uploaded"  # file stored, mapping not confirmed yet
    DRY_RUN_QUEUED = "check_queued"  # large file: its dry run waits for the scheduler process
    CHECKING = "checking"  # the scheduler is running its dry run
    PREVIEWED = "previewed"  # dry run done, waiting for the user's go
    QUEUED = "queued"  # large file: waiting for the scheduler process
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    FINISHED = (DONE, FAILED)


class LeadImport(db.Model):
    """One upload of a trade-show or phone list. The file lives under instance/imports/ with a server-made name."""

    __tablename__ = "lead_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(80))  # server-made, e.g. 3f2a….csv
    original_name: Mapped[str] = mapped_column(String(255))  # shown to the user only
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.UPLOADED, index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    mapping_json: Mapped[str | None] = mapped_column(Text)  # field → column index
    include_duplicates: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What to do with each flagged row, chosen on the preview: row number → skip | new | contact.
    choices_json: Mapped[str | None] = mapped_column(Text)
    total_rows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    processed_rows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    imported_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    report_json: Mapped[str | None] = mapped_column(Text)  # the dry run's summary and issues
    error_message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Times an import process took the job; the scheduler gives a stalled job one more go, not endless ones.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When a running import last showed progress (PostgreSQL; on SQLite the progress file's time says it).
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    campaign = relationship("Campaign")
    created_by = relationship("User")

    @property
    def mapping(self) -> dict[str, int]:
        return json.loads(self.mapping_json) if self.mapping_json else {}

    @property
    def choices(self) -> dict[int, str]:
        return {int(row): choice for row, choice in json.loads(self.choices_json).items()} if self.choices_json else {}

    @property
    def report(self) -> dict:
        return json.loads(self.report_json) if self.report_json else {}

    @property
    def percent(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0
