"""Sending one notice through one channel: a webhook (httpx), an e-mail (smtplib), the log.

A channel that cannot take the notice now (a server down, an answer other
than 2xx, a refused login, an environment variable not set) raises
``DeliveryError`` with a sentence saying why; the delivery stays pending and
is tried again later. Secrets are read from the environment at the moment
of sending, never kept.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a notice is sent: opening a project does not pay for them
    import smtplib

    import httpx

from weir.alerts.records import Notice
from weir.project.alerts import ChannelConfig, EmailChannel, LogChannel, WebhookChannel

LOG_FILE = "alerts.log"
logger = logging.getLogger("weir.alerts")


class DeliveryError(Exception):
    """A channel did not take a notice; the message says why (it never holds a secret)."""


class Channels:
    """The project's channels by name, and where the log channel writes."""

    def __init__(self, configs: dict[str, ChannelConfig], root: Path, state_dir: Path) -> None:
        self.configs = configs
        self.root = root
        self.log_file = state_dir / LOG_FILE
        self._http: httpx.Client | None = None  # one client: its TLS set-up is made once
        self._lock = threading.Lock()

    def http(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                import httpx

                self._http = httpx.Client(headers={"User-Agent": "weir-alerts"})
            return self._http

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def send(self, name: str, notice: Notice) -> None:
        """Send ``notice`` through the channel ``name``; DeliveryError if it is not taken."""
        config = self.configs.get(name)
        if config is None:
            raise DeliveryError(f"no channel named '{name}' in weir.yml any more")
        if isinstance(config, WebhookChannel):
            post_webhook(config, notice, self.http())
        elif isinstance(config, EmailChannel):
            send_email(config, notice, self.root)
        else:
            write_log(config, notice, self.log_file)


def webhook_body(config: WebhookChannel, notice: Notice) -> dict[str, object]:
    """Slack's ``{"text": …}`` (Mattermost, Teams' and Discord's Slack endpoints read it too) or the notice."""
    if config.format == "slack":
        return {"text": notice.text()}
    return notice.as_json()


def post_webhook(config: WebhookChannel, notice: Notice, client: httpx.Client) -> None:
    import httpx

    try:
        answer = client.post(
            config.url,
            content=json.dumps(webhook_body(config, notice), default=str).encode("utf-8"),
            headers={"Content-Type": "application/json", **config.headers},
            timeout=config.timeout_seconds,
        )
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook {_host(config.url)}: {type(exc).__name__}: {exc}") from None
    if not answer.is_success:
        raise DeliveryError(
            f"webhook {_host(config.url)} answered HTTP {answer.status_code}: "
            f"{answer.text[:200].strip()}"
        )


def email_message(config: EmailChannel, notice: Notice) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = notice.title()
    message["From"] = config.from_
    message["To"] = ", ".join(config.to)
    detail = json.dumps(notice.as_json(), indent=2, sort_keys=True, default=str)
    message.set_content(f"{notice.text()}\n\n{detail}\n")
    return message


def send_email(config: EmailChannel, notice: Notice, root: Path) -> None:
    import smtplib

    smtp = config.smtp
    login = None
    if smtp.username_env is not None and smtp.password_env is not None:
        missing = [n for n in (smtp.username_env, smtp.password_env) if not os.environ.get(n)]
        if missing:
            raise DeliveryError(
                f"e-mail via {smtp.host}: the environment variable {', '.join(missing)} "
                "is not set (weir.yml names it for the SMTP login); set it where weir runs"
            )
        login = (os.environ[smtp.username_env], os.environ[smtp.password_env])
    where = f"e-mail via {smtp.host}:{smtp.port}"
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds) as server:
            server.ehlo()
            if smtp.starttls:
                cafile = str(root / smtp.ca_file) if smtp.ca_file else None
                server.starttls(context=ssl.create_default_context(cafile=cafile))
                server.ehlo()
            if login is not None:
                server.login(*login)
            refused = server.send_message(email_message(config, notice))
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"{where}: the login was refused ({exc.smtp_code})") from None
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"{where}: {type(exc).__name__}: {_short(exc)}") from None
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from None
    if refused:
        raise DeliveryError(f"{where}: refused recipients {', '.join(sorted(refused))}")


def write_log(_config: LogChannel, notice: Notice, log_file: Path) -> None:
    level = logging.INFO if notice.event in ("resolved", "test") else logging.WARNING
    logger.log(level, "%s — %s", notice.title(), notice.message)
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(notice.as_json(), sort_keys=True, default=str) + "\n")
    except OSError as exc:
        raise DeliveryError(f"log file {log_file}: {exc}") from None


def _host(url: str) -> str:
    import httpx

    return httpx.URL(url).host or url  # the path may hold a secret (Slack's do): not shown


def _short(exc: smtplib.SMTPException) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:300] + "…"
