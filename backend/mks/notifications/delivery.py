"""Sending one message: an e-mail over SMTP, or a signed JSON POST to the webhook. Failures raise."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage

from ..config import Settings
from ..models import Notification

SIGNATURE_HEADER = "X-MKS-Signature"


class DeliveryError(Exception):
    """The receiver refused or could not be reached; the message is tried again later."""


def send_email(settings: Settings, message: Notification) -> None:
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = ", ".join(message.recipients)
    mail["Subject"] = message.subject
    mail.set_content(message.body)
    try:
        with smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP: {exc}") from exc


def signature(secret: str, body: bytes) -> str:
    """The value of the signature header: the receiver recomputes it over the raw body with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(settings: Settings, message: Notification) -> None:
    body = json.dumps(message.payload, ensure_ascii=False).encode()
    request = urllib.request.Request(
        message.recipients[0],
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: signature(settings.webhook_secret or "", body),
            "X-MKS-Event": message.event,
            "X-MKS-Delivery": str(message.id),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.webhook_timeout_seconds) as response:
            response.read()
    except (OSError, urllib.error.URLError) as exc:  # HTTPError (a 4xx/5xx answer) is a URLError
        raise DeliveryError(f"webhook: {exc}") from exc


SENDERS = {"email": send_email, "webhook": post_webhook}
