from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select

from crm.access.roles import STAFF_ROLES, Role, roles_required
from crm.common.pagination import paginate
from crm.extensions import db
from crm.products import services
from crm.products.forms import ProductForm
from crm.products.models import Product
from crm.web import perform

bp = Blueprint("products", __name__, url_prefix="/products")

FORM_FIELDS = (
    "name",
    "specification",
    "dosage_form",
    "approval_number",
    "insurance_class",
    "dispensing",
    "terminals",
    "is_exclusive",
    "active",
)


@bp.route("/")
@roles_required(*STAFF_ROLES)
def index():
    q = (request.args.get("q") or "").strip()
    show_inactive = request.args.get("all") == "1"
    stmt = select(Product).order_by(Product.name, Product.id)
    if not show_inactive:
        stmt = stmt.where(Product.active.is_(True))
    if q:
        stmt = stmt.where(or_(Product.name.contains(q), Product.approval_number.contains(q.upper())))
    return render_template(
        "products/index.html", page=paginate(stmt, request.args.get("page")), q=q, show_inactive=show_inactive
    )


@bp.route("/<int:product_id>")
@roles_required(*STAFF_ROLES)
def detail(product_id):
    return render_template("products/detail.html", product=db.get_or_404(Product, product_id))


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new():
    form = ProductForm()
    if form.validate_on_submit():
        outcome = perform(services.create_product, **{f: form[f].data for f in FORM_FIELDS})
        if outcome.ok:
            product = outcome.value
            flash(_("Product %(name)s created.", name=product.name), "success")
            return redirect(url_for("products.detail", product_id=product.id))
    return render_template("products/form.html", form=form, product=None)


@bp.route("/<int:product_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit(product_id):
    product = db.get_or_404(Product, product_id)
    form = ProductForm(obj=product)
    if request.method == "GET":
        form.remember_version(product)
        form.terminals.data = [t.value for t in product.terminals]
        form.dosage_form.data = product.dosage_form.value
        form.insurance_class.data = product.insurance_class.value
        form.dispensing.data = product.dispensing.value
    if form.validate_on_submit():
        outcome = perform(
            services.update_product,
            product,
            seen_version=form.seen_version.data,
            **{f: form[f].data for f in FORM_FIELDS},
        )
        if outcome.ok:
            flash(_("Saved."), "success")
            return redirect(url_for("products.detail", product_id=product.id))
    return render_template("products/form.html", form=form, product=product)
