"""The baseline for bench/leads.py: the least a page of 50 leads can cost in this stack.

A bare Flask app, no login, no ORM, no scoping: SQLAlchemy Core reads the newest
50 rows of the same ``leads`` table (with the territory name, as the real page
shows it) and Jinja renders them. Served by gunicorn exactly like the real app:

    BENCH_DATABASE_URL=sqlite:////tmp/x.sqlite3 gunicorn -w 2 bench.bare_leads_app:app
"""

from __future__ import annotations

import os

from flask import Flask
from jinja2 import Environment
from sqlalchemy import create_engine, text

PAGE = Environment(autoescape=True).from_string(
    """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Leads</title></head><body>
<table><thead><tr><th>公司</th><th>区域</th><th>状态</th><th>下次跟进</th></tr></thead><tbody>
{% for row in rows %}<tr><td><a href="/leads/{{ row.id }}">{{ row.company_name }}</a></td><td>{{ row.full_name }}</td>
<td>{{ row.state }}</td><td>{{ row.next_touch_on or '' }}</td></tr>
{% endfor %}</tbody></table></body></html>"""
)

QUERY = text(
    "SELECT leads.id, leads.company_name, territories.full_name, leads.state, leads.next_touch_on "
    "FROM leads JOIN territories ON territories.code = leads.territory_code "
    "ORDER BY leads.created_at DESC, leads.id DESC LIMIT 50"
)

app = Flask(__name__)
engine = create_engine(os.environ["BENCH_DATABASE_URL"], pool_pre_ping=True)


@app.route("/leads/")
def leads():
    with engine.connect() as conn:
        rows = conn.execute(QUERY).all()
    return PAGE.render(rows=rows)
