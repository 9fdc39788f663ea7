"""External channels: email (SMTP, or .eml files in the development outbox) and group robots.

A channel either returns (sent), raises ``SkipDelivery`` (nothing to send to: not
retried) or raises ``DeliveryFailed`` (retried with backoff). Each send talks to
one server with a timeout, so a dead server costs one attempt, not a hung job.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

from flask import current_app

from crm.common.time import utcnow
from crm.notify.rendering import OutgoingMessage

SMTP_TIMEOUT_SECONDS = 30
WEBHOOK_TIMEOUT_SECONDS = 5
WEBHOOK_KINDS = ("wecom", "dingtalk")


class SkipDelivery(Exception):
    """Nothing to send over this channel (no address, channel switched off); never retried."""


class DeliveryFailed(Exception):
    """The server refused or could not be reached; the delivery is retried later."""


def send_email(delivery_id: int, message: OutgoingMessage) -> None:
    """Mail the user: over SMTP when SMTP_HOST is set, else into ``instance/outbox/`` as an .eml file."""
    config = current_app.config
    if not config.get("NOTIFY_EMAIL", True):
        raise SkipDelivery("email notifications are switched off")
    if not message.recipient_email:
        raise SkipDelivery("the user has no email address")
    mail = EmailMessage()
    mail["From"] = config.get("MAIL_FROM") or "crm@localhost"
    mail["To"] = formataddr((message.recipient_name, message.recipient_email))
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(idstring=f"notify-{delivery_id}")
    mail.set_content(message.email_body)
    if config.get("SMTP_HOST"):
        _send_smtp(mail)
    else:
        _write_outbox(delivery_id, mail)


def _send_smtp(mail: EmailMessage) -> None:
    config = current_app.config
    try:
        with smtplib.SMTP(
            config["SMTP_HOST"], int(config.get("SMTP_PORT") or 25), timeout=SMTP_TIMEOUT_SECONDS
        ) as smtp:
            if config.get("SMTP_STARTTLS"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USER"):
                smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
            refused = smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"SMTP {config['SMTP_HOST']}: {exc}") from exc
    if refused:
        raise DeliveryFailed(f"SMTP refused recipients: {refused}")


def _write_outbox(delivery_id: int, mail: EmailMessage) -> None:
    """The development outbox: one .eml file per mail, written whole or not at all."""
    outbox = Path(current_app.instance_path) / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    # The time first: files sort in sending order, and a database reset that reuses ids overwrites nothing.
    final = outbox / f"{utcnow():%Y%m%dT%H%M%S%f}-notification-{delivery_id}.eml"
    partial = outbox / f".{final.name}.{os.getpid()}.tmp"
    partial.write_bytes(mail.as_bytes())
    partial.replace(final)


def webhook_payload(kind: str, text: str) -> dict:
    """The JSON a WeCom (企业微信) or DingTalk (钉钉) group robot takes for a text message."""
    if kind not in WEBHOOK_KINDS:
        raise DeliveryFailed(f"NOTIFY_WEBHOOK_KIND must be one of {', '.join(WEBHOOK_KINDS)}, not {kind!r}")
    # Both robots take the same shape for plain text; mentions (WeCom mentioned_list,
    # DingTalk at.atMobiles) would differ, but users carry neither id yet.
    return {"msgtype": "text", "text": {"content": text}}


def send_webhook(delivery_id: int, message: OutgoingMessage) -> None:
    """Post to the configured group robot; a non-2xx answer or an ``errcode`` other than 0 fails."""
    config = current_app.config
    url = config.get("NOTIFY_WEBHOOK_URL")
    if not url:
        raise SkipDelivery("no group robot is configured")
    payload = webhook_payload(config.get("NOTIFY_WEBHOOK_KIND") or "wecom", message.robot_text)
    request = urllib.request.Request(  # noqa: S310 (the URL is the administrator's setting)
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            body = response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"group robot answered HTTP {exc.code}") from exc
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        raise DeliveryFailed(f"group robot unreachable: {exc}") from exc
    try:
        answer = json.loads(body)
    except ValueError:
        return  # a 2xx without JSON: accepted
    if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
        raise DeliveryFailed(f"group robot errcode {answer.get('errcode')}: {answer.get('errmsg', '')}")


CHANNELS = {"email": send_email, "webhook": send_webhook}
