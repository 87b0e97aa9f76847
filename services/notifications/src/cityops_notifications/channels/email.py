"""E-mail over SMTP (aiosmtplib): UTF-8 text/plain, so Vietnamese diacritics survive; STARTTLS configurable."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from cityops_notifications.channels.base import Outgoing, PermanentFailure, TemporaryFailure
from cityops_notifications.settings import NotificationsSettings


def build_message(*, sender: str, to: str, outgoing: Outgoing) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = outgoing.message.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(idstring=outgoing.delivery_id, domain="cityops.local")
    message["Content-Language"] = outgoing.language
    message["X-CityOps-Event-Id"] = outgoing.event_id
    message.set_content(outgoing.message.body, charset="utf-8")
    return message


class EmailChannel:
    def __init__(self, settings: NotificationsSettings) -> None:
        self._s = settings

    async def send(self, *, address: str, outgoing: Outgoing, secret: str | None) -> int:
        s = self._s
        message = build_message(sender=s.smtp_from, to=address, outgoing=outgoing)
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                start_tls=s.smtp_starttls,
                username=s.smtp_user or None,
                password=s.smtp_password or None,
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"smtp: recipient refused: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            failure = PermanentFailure if 500 <= exc.code < 600 else TemporaryFailure
            raise failure(f"smtp {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"smtp: {type(exc).__name__}: {exc}") from exc
        return 1

    async def close(self) -> None:
        return None
