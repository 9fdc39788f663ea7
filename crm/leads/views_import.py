"""Lead import pages: upload, column mapping, dry-run preview with a choice per flagged row and the
problems as XLSX, import, progress. The dry run and the import of a large file run in the scheduler."""

from __future__ import annotations

import json

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from crm.access.roles import Role, roles_required
from crm.common.spreadsheets import XlsxExport
from crm.common.time import utcnow
from crm.db import read_transaction
from crm.extensions import db
from crm.leads import importer
from crm.leads.blueprint import bp
from crm.leads.imports_models import ImportStatus, LeadImport
from crm.leads.models import Campaign
from crm.web import perform

IMPORTERS = (Role.ADMIN, Role.MANAGER, Role.REP)


def _job_or_404(import_id: int) -> LeadImport:
    """An import is seen by the person who uploaded it, and by administrators."""
    job = db.session.get(LeadImport, import_id)
    if job is None or (job.created_by_id != current_user.id and current_user.role != Role.ADMIN):
        abort(404)
    return job


def _campaigns():
    return list(db.session.scalars(select(Campaign).order_by(Campaign.id.desc())))


@bp.route("/import", methods=["GET", "POST"])
@roles_required(*IMPORTERS)
def import_upload():
    if request.method == "POST":
        if request.content_length and request.content_length > importer.max_upload_bytes() + 64 * 1024:
            flash(importer.too_large_message(), "danger")  # refused before a byte of it is stored
        else:
            outcome = perform(
                importer.receive_upload,
                request.files.get("file"),
                request.form.get("campaign_id", type=int),
                current_user,
            )
            if outcome.ok:
                return redirect(url_for("leads.import_mapping", import_id=outcome.value.id))
    return render_template("leads/import_upload.html", campaigns=_campaigns())


@bp.route("/import/<int:import_id>/mapping", methods=["GET", "POST"])
@roles_required(*IMPORTERS)
def import_mapping(import_id):
    job = _job_or_404(import_id)
    if job.status not in (ImportStatus.UPLOADED, ImportStatus.PREVIEWED):
        return redirect(url_for("leads.import_job", import_id=job.id))
    path = importer.job_path(job)
    refusal = None
    with read_transaction(db.session):  # a POST would hold SQLite's write lock while the file is read
        try:
            headers, rows = importer.read_table(path)
            sample = [row for _n, row in zip(range(3), rows, strict=False)]
        except importer.ImportFileError as error:  # beyond the limits in a way only reading shows
            refusal = error.message
    job = db.session.get(LeadImport, import_id)
    if refusal is not None:
        importer.refuse_file(job, refusal)
        db.session.commit()
        return redirect(url_for("leads.import_job", import_id=job.id))
    if request.method == "POST":
        mapping = {}
        for name in importer.FIELDS:
            value = request.form.get(f"map_{name}", "")
            if value.isdigit() and int(value) < len(headers):
                mapping[name] = int(value)
        campaign_id = request.form.get("campaign_id", type=int)
        if campaign_id and db.session.get(Campaign, campaign_id) is not None:
            job.campaign_id = campaign_id
        if "company_name" not in mapping:
            flash(_("Choose the column with the company name."), "danger")
        elif not {"province", "city", "county", "region", "address"} & set(mapping):
            flash(_("Choose the column(s) with the province, city or county."), "danger")
        else:
            if "region" not in mapping and "address" in mapping and not {"province", "city", "county"} & set(mapping):
                mapping["region"] = mapping["address"]
            ready = importer.start_dry_run(job, mapping, current_user._get_current_object())
            db.session.commit()
            if ready:
                return redirect(url_for("leads.import_preview", import_id=import_id))
            if job.status == ImportStatus.DRY_RUN_QUEUED:
                flash(_("The file is large: it is being checked. This page shows the result when it is ready."), "info")
            return redirect(url_for("leads.import_job", import_id=import_id))
    return render_template(
        "leads/import_mapping.html",
        job=job,
        headers=headers,
        sample=sample,
        mapping=job.mapping,
        labels=importer.field_labels(),
        campaigns=_campaigns(),
    )


@bp.route("/import/<int:import_id>/preview")
@roles_required(*IMPORTERS)
def import_preview(import_id):
    job = _job_or_404(import_id)
    if job.status != ImportStatus.PREVIEWED:
        return redirect(url_for("leads.import_job", import_id=job.id))
    report = job.report
    issues = [importer.Issue(**issue) for issue in report.get("issues", [])]
    return render_template("leads/import_preview.html", job=job, report=report, issues=issues)


@bp.route("/import/<int:import_id>/report.xlsx")
@roles_required(*IMPORTERS)
def import_report(import_id):
    """The dry run's problems row by row, as a workbook to correct the list in Excel."""
    job = _job_or_404(import_id)
    report = job.report
    export = XlsxExport()  # the messages quote the file's cells: never a formula
    sheet = export.sheet(_("Problems"), [_("Row"), _("Column"), _("Problem"), _("Kind")])
    for issue in report.get("issues", []):
        sheet.append([issue["row"], issue["column"], issue["message"], _("Error") if issue["error"] else _("Warning")])
    if report.get("more_issues"):
        sheet.append(["", "", _("… and %(n)d more.", n=report["more_issues"]), ""])
    return export.send(f"import-{job.id}-problems.xlsx")


@bp.route("/import/<int:import_id>/run", methods=["POST"])
@roles_required(*IMPORTERS)
def import_run(import_id):
    job = _job_or_404(import_id)
    if job.status != ImportStatus.PREVIEWED:
        return redirect(url_for("leads.import_job", import_id=job.id))
    job.include_duplicates = bool(request.form.get("include_duplicates"))
    report = job.report
    flagged = {entry["row"] for entry in report.get("flagged", [])}
    choices = {}
    for row in flagged:
        wanted = request.form.get(f"choice_{row}")
        if wanted in importer.ROW_CHOICES:
            choices[str(row)] = wanted
    job.choices_json = json.dumps(choices) if choices else None
    rows = report.get("new", 0) + report.get("duplicates", 0)
    if rows > current_app.config.get("LEAD_IMPORT_BACKGROUND_ROWS", 2000):
        # Large files go to the scheduler process, so that no web worker is tied up for long.
        job.status = ImportStatus.QUEUED
        job.total_rows, job.processed_rows = rows, 0
        db.session.commit()
        flash(_("The import has started. You can leave this page; it goes on."), "info")
    else:
        job.status = ImportStatus.RUNNING
        job.started_at = job.heartbeat_at = utcnow()  # should this worker die, the scheduler takes the job over
        job.attempts += 1
        db.session.commit()
        try:
            count = importer.run_import_job(job, current_user._get_current_object())
        except Exception:  # the job row carries the message; nothing was imported
            current_app.logger.exception("lead import %s failed", import_id)
        else:
            flash(_("%(n)d leads imported.", n=count), "success")
    return redirect(url_for("leads.import_job", import_id=import_id))


@bp.route("/import/<int:import_id>")
@roles_required(*IMPORTERS)
def import_job(import_id):
    job = _job_or_404(import_id)
    return render_template("leads/import_job.html", job=job, progress=importer.job_progress(job))


@bp.route("/import/<int:import_id>/progress")
@roles_required(*IMPORTERS)
def import_progress(import_id):
    """The progress fragment htmx polls while the scheduler checks or imports the file."""
    job = _job_or_404(import_id)
    response = make_response(
        render_template("leads/import_progress.html", job=job, progress=importer.job_progress(job))
    )
    if job.status == ImportStatus.PREVIEWED and request.headers.get("HX-Request"):
        response.headers["HX-Redirect"] = url_for("leads.import_preview", import_id=job.id)  # the check is done
    return response
