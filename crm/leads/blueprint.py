"""The leads blueprint. Its routes live in several modules (views*.py), one per area."""

from flask import Blueprint

bp = Blueprint("leads", __name__, url_prefix="/leads")
