"""Fixtures for notifications: real local servers standing in for SMTP and the group robots."""

from __future__ import annotations

import json
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update

from crm.auth.models import User
from crm.extensions import db
from crm.notify import queue
from crm.notify.models import Delivery, Notification


@dataclass
class RobotServer:
    """A fake WeCom/DingTalk robot on 127.0.0.1: records each POST, answers from a script."""

    url: str
    received: list[dict] = field(default_factory=list)
    # (HTTP status, JSON answer) per request; the last one repeats.
    answers: list[tuple[int, dict]] = field(default_factory=lambda: [(200, {"errcode": 0, "errmsg": "ok"})])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self, payload: dict) -> tuple[int, dict]:
        with self.lock:
            self.received.append(payload)
            return self.answers[min(len(self.received), len(self.answers)) - 1]


@pytest.fixture
def robot():
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            payload = json.loads(self.rfile.read(length).decode("utf-8"))
            payload["_path"] = self.path
            payload["_content_type"] = self.headers.get("Content-Type")
            status, answer = state["robot"].next_answer(payload)
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["robot"] = RobotServer(url=f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/webhook/send?key=test")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["robot"]
    server.shutdown()
    server.server_close()


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[dict] = field(default_factory=list)


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        envelope = {"from": None, "to": []}
        self.reply("220 localhost test SMTP")
        while line := self.rfile.readline():
            command = line.decode("ascii", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250-localhost")
                self.reply("250 8BITMIME")
            elif verb == "MAIL":
                envelope = {"from": command.split(":", 1)[1].strip(), "to": []}
                self.reply("250 OK")
            elif verb == "RCPT":
                envelope["to"].append(command.split(":", 1)[1].strip())
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = bytearray()
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.server.messages.append({**envelope, "data": bytes(data)})
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


@pytest.fixture
def smtp_server():
    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), _SmtpHandler)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SmtpServer("127.0.0.1", server.server_address[1], server.messages)
    server.shutdown()
    server.server_close()


@pytest.fixture
def channels(app, monkeypatch, tmp_path):
    """Switch channels for one test: ``channels(email=True, webhook=url, kind="wecom")``."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))  # a fresh development outbox

    def configure(*, email: bool = True, webhook: str = "", kind: str = "wecom", **extra):
        monkeypatch.setitem(app.config, "NOTIFY_EMAIL", email)
        monkeypatch.setitem(app.config, "NOTIFY_WEBHOOK_URL", webhook)
        monkeypatch.setitem(app.config, "NOTIFY_WEBHOOK_KIND", kind)
        for key, value in extra.items():
            monkeypatch.setitem(app.config, key, value)

    configure(email=False)
    return configure


def set_user(app, user_id: int, **values) -> None:
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(**values))
        db.session.commit()


def notify(app, user_id: int, kind: str, record_id: int | None = None, state: str = "open", **kwargs) -> int:
    """Queue one notification about a testflow record as the sweep would; returns its id."""
    with app.app_context():
        queue(user_id, kind, workflow="testflow", record_id=record_id, state=state, **kwargs)
        db.session.commit()
        return db.session.scalar(select(Notification.id).order_by(Notification.id.desc()).limit(1))


def deliveries(app) -> list[Delivery]:
    with app.app_context():
        rows = list(db.session.scalars(select(Delivery).order_by(Delivery.id)))
        db.session.expunge_all()
        return rows
