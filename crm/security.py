"""Sessions, CSRF and response headers shared by every page."""

from __future__ import annotations

from crm.extensions import login_manager
from crm.i18n import lazy_gettext as _l

# Scripts and styles come only from our own static/ (vendored; customers run on intranets).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def init_app(app) -> None:
    from crm.auth.services import load_session_user

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "warning"
    login_manager.user_loader(load_session_user)

    from datetime import timedelta

    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=app.config["REMEMBER_COOKIE_DURATION_DAYS"])
    app.config["REMEMBER_COOKIE_NAME"] = "crm_remember"

    # Built once: the configuration does not change while the app serves.
    security_headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if app.config["SESSION_COOKIE_SECURE"]:
        security_headers.append(("Strict-Transport-Security", "max-age=31536000"))

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        for name, value in security_headers:
            if name not in headers:  # a view may set its own (the workflow diagram's CSP)
                headers.add(name, value)
        return response
