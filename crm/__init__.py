"""招商通: a CRM for drug makers that recruit regional distributors."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

from config import BASE_DIR, INSTANCE_DIR, Config


def create_app(config_class: type[Config] = Config, **overrides) -> Flask:
    """Build the application. Nothing here connects to the database or starts a scheduler."""
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
    )
    app.config.from_object(config_class)
    app.config.update(overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(Path(app.instance_path))

    from crm import db as database
    from crm import extensions

    extensions.db.init_app(app)
    # First: its before_request marks a page read-only before anything else can open a transaction.
    database.init_app(app, extensions.db)
    extensions.migrate.init_app(
        app, extensions.db, directory=str(BASE_DIR / "migrations"), render_as_batch=True, compare_type=True
    )
    extensions.csrf.init_app(app)

    from crm import i18n, security, web

    i18n.init_app(app)
    security.init_app(app)
    web.init_app(app)

    from crm.admin.views import bp as admin_bp
    from crm.auth.views import bp as auth_bp
    from crm.distributors import views_licences  # noqa: F401
    from crm.distributors.views import bp as distributors_bp
    from crm.leads import views, views_campaigns, views_edit, views_import, views_list, views_pool  # noqa: F401
    from crm.leads.blueprint import bp as leads_bp
    from crm.main.views import bp as main_bp
    from crm.notify.views import bp as notify_bp
    from crm.orders.views import bp as orders_bp
    from crm.portal.views import bp as portal_bp
    from crm.products.views import bp as products_bp
    from crm.returns.views import bp as returns_bp
    from crm.screening.views import bp as screening_bp
    from crm.sla.views import bp as sla_bp
    from crm.territories.views import bp as territories_bp
    from crm.workflow.views import bp as workflow_bp

    for blueprint in (
        main_bp,
        auth_bp,
        admin_bp,
        territories_bp,
        products_bp,
        distributors_bp,
        workflow_bp,
        notify_bp,
        sla_bp,
        leads_bp,
        screening_bp,
        orders_bp,
        returns_bp,
        portal_bp,
    ):
        app.register_blueprint(blueprint)

    # Models without views of their own yet must still be known to Alembic and the ORM.
    from crm.cli import crm_cli
    from crm.leads import imports_models as _lead_import_models  # noqa: F401
    from crm.leads import models as _lead_models  # noqa: F401
    from crm.notify import models as _notify_models  # noqa: F401
    from crm.orders import models as _order_models  # noqa: F401
    from crm.screening import models as _screening_models  # noqa: F401
    from crm.sla import models as _sla_models  # noqa: F401

    app.cli.add_command(crm_cli)
    return app


def _instance_secret_key(instance: Path) -> str:
    """A per-installation secret kept in ``instance/``, shared by every worker.

    Created once with O_EXCL so that workers starting together agree on it.
    """
    path = instance / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        key = secrets.token_urlsafe(48)
        fh.write(key)
    return key
