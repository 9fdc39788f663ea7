"""Admin pages of the SLA engine: the rule of each workflow state, and the holiday calendar."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.access.roles import Role, roles_required
from crm.extensions import db
from crm.sla import services
from crm.sla.forms import KIND_WORKDAY, HolidayForm, HolidayRangeForm, SlaRuleForm
from crm.sla.models import HolidayOverride
from crm.web import perform

bp = Blueprint("sla", __name__, url_prefix="/admin/sla")


@bp.app_context_processor
def _calendar_warning():
    # A function, not a value: only the pages that show the banner pay for the calendar query.
    return {"sla_unknown_years": services.unknown_upcoming_years}


@bp.route("/rules")
@roles_required(Role.ADMIN)
def rules():
    """Every SLA-capable state of every workflow: the default, the override, a link to edit."""
    return render_template("sla/rules.html", rows=services.rule_rows(), hours=services.hours_text)


def _row_or_404(workflow, state):
    row = services.rule_row(workflow, state)
    if row is None:
        abort(404)
    return row


@bp.route("/rules/<workflow>/<state>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def rule_edit(workflow, state):
    row = _row_or_404(workflow, state)
    form = SlaRuleForm()
    if request.method == "GET":
        current = row.override
        form.seen_version.data = row.version
        if current:
            form.duration_hours.data = services.hours_text(current.duration_minutes)
            form.warn_percent.data = str(current.warn_percent)
            form.escalate_to.data = current.escalate_to.value
        elif row.default:
            form.duration_hours.data = services.hours_text(row.default.duration)
            form.warn_percent.data = str(round(row.default.warn_fraction * 100))
            form.escalate_to.data = row.default.escalate_to.value
        else:
            form.duration_hours.data, form.warn_percent.data, form.escalate_to.data = "0", "80", Role.MANAGER.value
    else:
        # A stale form is a conflict whatever else is wrong with it.
        services.check_rule_version(row, form.seen_version.data)
    if form.validate_on_submit():
        outcome = perform(
            services.save_rule,
            row,
            actor=current_user,
            seen_version=form.seen_version.data,
            duration_hours=form.duration_hours.data,
            warn_percent=form.warn_percent.data,
            escalate_to=form.escalate_to.data,
        )
        if outcome.ok:
            flash(
                _("Saved. Records entering “%(state)s” from now on get the new deadline.", state=row.state.label),
                "success",
            )
            return redirect(url_for("sla.rules"))
    return render_template("sla/rule_form.html", form=form, row=row, hours=services.hours_text)


@bp.route("/rules/<workflow>/<state>/reset", methods=["POST"])
@roles_required(Role.ADMIN)
def rule_reset(workflow, state):
    row = _row_or_404(workflow, state)
    services.reset_rule(row, actor=current_user, seen_version=request.form.get("seen_version"))
    db.session.commit()
    flash(_("“%(state)s” uses the default SLA again.", state=row.state.label), "success")
    return redirect(url_for("sla.rules"))


def _year_arg() -> int:
    try:
        year = int(request.args.get("year") or 0)
    except ValueError:
        year = 0
    return year if 2000 <= year <= 2100 else services.local_today().year


def _render_holidays(year: int, form=None, range_form=None, status: int = 200):
    return (
        render_template(
            "sla/holidays.html",
            year=year,
            entries=services.holidays_of_year(year),
            built_in=services.built_in_days(year),
            built_in_year=services.built_in_year(year),
            completion=services.year_completion(year),
            years=sorted({*services.years_with_holidays(), year, services.local_today().year + 1}),
            form=form or HolidayForm(),
            range_form=range_form or HolidayRangeForm(prefix="range"),
        ),
        status,
    )


@bp.route("/holidays", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def holidays():
    """The admin's holiday calendar for one year; POST adds one day."""
    year = _year_arg()
    form = HolidayForm()
    if form.validate_on_submit() and _add(form.day.data, form.day.data, form.kind.data, form.name.data):
        return redirect(url_for("sla.holidays", year=form.day.data.year), code=303)
    return _render_holidays(year, form=form)


@bp.route("/holidays/range", methods=["POST"])
@roles_required(Role.ADMIN)
def holiday_range():
    """Adds every day of a period at once (春节, 国庆节)."""
    form = HolidayRangeForm(prefix="range")
    if form.validate_on_submit() and _add(form.first.data, form.last.data, form.kind.data, form.name.data):
        return redirect(url_for("sla.holidays", year=form.first.data.year), code=303)
    return _render_holidays(_year_arg(), range_form=form)


def _add(first: date, last: date, kind: str, name: str) -> bool:
    outcome = perform(
        services.add_holidays, first, last, is_working_day=kind == KIND_WORKDAY, name=name or "", actor=current_user
    )
    if outcome.ok:
        flash(_("%(n)d days added to the calendar.", n=len(outcome.value)), "success")
    return outcome.ok


@bp.route("/holidays/year/<int:year>/complete", methods=["POST"])
@roles_required(Role.ADMIN)
def holiday_year_complete(year):
    """Marks the year's entered plan complete (complete=1), or opens it again (complete=0)."""
    complete = request.form.get("complete") == "1"
    outcome = perform(services.set_year_complete, year, complete=complete, actor=current_user)
    if outcome.ok:
        flash(
            _("The holiday plan of %(year)d is marked complete.", year=year)
            if complete
            else _("The holiday plan of %(year)d is open again: pages warn until it is marked complete.", year=year),
            "success",
        )
    return redirect(url_for("sla.holidays", year=year), code=303)


@bp.route("/holidays/<int:holiday_id>/delete", methods=["POST"])
@roles_required(Role.ADMIN)
def holiday_delete(holiday_id):
    entry = db.get_or_404(HolidayOverride, holiday_id)
    year = entry.day.year
    services.delete_holiday(entry, actor=current_user)
    db.session.commit()
    flash(_("Day removed from the calendar."), "success")
    return redirect(url_for("sla.holidays", year=year), code=303)
