"""The channels a notice goes out on: mail through the office's SMTP relay, and a Teams channel through a
Workflows webhook ("When a Teams webhook request is received") carrying an Adaptive Card. Each raises
``SendError`` with a Japanese reason a person can act on; secrets (password, webhook URL) never appear in it."""

from __future__ import annotations

import fnmatch
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, parseaddr
from urllib.parse import urlsplit

import requests

from app.config import Settings
from app.jpdate import now_utc

ADAPTIVE_CARD_VERSION = "1.4"  # the highest version Teams Workflows render in channel posts
ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
WIRE = compat32.clone(linesep="\r\n")  # what SMTP carries: CRLF line ends (sendmail sends bytes as they are)


class SendError(Exception):
    """A send failed. ``permanent``: retrying cannot help (an address refused); ``retry_after``: seconds the
    receiver asked to wait (429)."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outgoing:
    """What a channel needs of an outbox row (plain values, read before the row's transaction ended)."""

    key: str
    channel: str
    recipient: str
    subject: str
    body: str  # links already absolute
    link: str  # absolute URL of the page


def valid_address(address: str) -> bool:
    """A plain mail address (local@domain, no display name, no line breaks)."""
    if not address or any(c in address for c in "\r\n<>,; ") or parseaddr(address)[1] != address:
        return False
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError):
        return False
    return bool(parsed.username and "." in parsed.domain)


def message_id(key: str, sender: str) -> str:
    """The stable Message-ID of a notice: its idempotency key at the sender's domain."""
    domain = sender.rpartition("@")[2] or "paperless.invalid"
    return f"<{key}@{domain}>"


class Mailer:
    """One SMTP connection for a run of sends (opened on first use, closed by ``close``)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _where(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if not s.smtp_host:
            raise SendError("メールの送信設定がありません（PAPERLESS_SMTP_HOST と PAPERLESS_SMTP_FROM を設定してください）。")
        try:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
            if s.smtp_starttls:
                context = ssl.create_default_context(cafile=str(s.smtp_ca_bundle) if s.smtp_ca_bundle else None)
                smtp.starttls(context=context)
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"SMTPサーバー {self._where()} がログインを拒否しました（{exc.smtp_code}）。"
                            "PAPERLESS_SMTP_USERNAME と PAPERLESS_SMTP_PASSWORD を確認してください。") from None
        except smtplib.SMTPNotSupportedError:
            raise SendError(f"SMTPサーバー {self._where()} は STARTTLS またはログインに対応していません。"
                            "PAPERLESS_SMTP_STARTTLS / USERNAME の設定を確認してください。") from None
        except ssl.SSLError as exc:
            raise SendError(f"SMTPサーバー {self._where()} とのTLS接続に失敗しました（{exc.reason}）。"
                            "証明書（PAPERLESS_SMTP_CA_BUNDLE）を確認してください。") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"SMTPサーバー {self._where()} に接続できません（{type(exc).__name__}）。"
                            "サーバーの稼働と PAPERLESS_SMTP_HOST / PORT を確認してください。") from None
        return smtp

    def message(self, out: Outgoing) -> bytes:
        """The mail as bytes: UTF-8 text in base64, the subject MIME-encoded, the stable Message-ID. Built with the
        ``compat32`` classes (MIMEText, Header): the same headers and body as ``EmailMessage`` with the default
        policy, for a fifth of its CPU (its header objects parse and refold every header on each message)."""
        sender = self.settings.smtp_from
        msg = MIMEText(out.body, "plain", "utf-8")
        msg["Subject"] = Header(out.subject, "utf-8")
        msg["From"] = sender
        msg["To"] = out.recipient
        msg["Date"] = format_datetime(now_utc())
        msg["Message-ID"] = message_id(out.key, sender)
        msg["Auto-Submitted"] = "auto-generated"
        return msg.as_bytes(policy=WIRE)

    def send(self, out: Outgoing) -> None:
        """Send on the run's one connection (opened on first use). A connection the relay dropped while it sat
        idle between two notices is opened again once, at once; any other failure closes it (the next notice
        opens a new one) and raises ``SendError``."""
        if not valid_address(out.recipient):
            raise SendError(f"宛先「{out.recipient}」はメールアドレスの形式ではありません。利用者の登録（UPN）を確認してください。",
                            permanent=True)
        data = self.message(out)
        reused = self._smtp is not None
        try:
            try:
                self._sendmail(out.recipient, data)
            except smtplib.SMTPServerDisconnected:
                if not reused:
                    raise
                self.close()  # the relay closed the idle connection: once more on a new one
                self._sendmail(out.recipient, data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise SendError(f"宛先「{out.recipient}」はメールサーバーに拒否されました（{code} {_text(text)}）。"
                            "アドレスを確認してください。", permanent=code >= 500) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise SendError(f"SMTPサーバーが受け付けませんでした（{exc.smtp_code} {_text(exc.smtp_error)}）。",
                            permanent=exc.smtp_code >= 500 and exc.smtp_code != 530) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise SendError(f"SMTPサーバー {self._where()} との接続が切れました（{type(exc).__name__}）。") from None

    def _sendmail(self, recipient: str, data: bytes) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        self._smtp.sendmail(self.settings.smtp_from, [recipient], data)

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# --- Teams -------------------------------------------------------------------------------------------------


def host_patterns(settings: Settings) -> list[str]:
    return [p.strip().lower() for p in settings.teams_webhook_hosts.split(",") if p.strip()]


def webhook_problem(url: str, settings: Settings) -> str | None:
    """Why a webhook URL is refused (Japanese, without echoing the URL), or None."""
    url = (url or "").strip()
    if not url:
        return "Webhook URL を入力してください。"
    parts = urlsplit(url)
    if parts.scheme != "https":
        return "Webhook URL は https:// で始まる必要があります。"
    host = (parts.hostname or "").lower()
    patterns = host_patterns(settings)
    if not host or not any(fnmatch.fnmatchcase(host, p) for p in patterns):
        return (f"Webhook URL のホスト「{host or '（なし）'}」は許可されていません（許可: {', '.join(patterns)}）。"
                "Teams ワークフローの「Teams Webhook 要求を受信したとき」で表示された URL を貼り付けてください。")
    return None


def adaptive_card(out: Outgoing) -> dict:
    """The message a Workflows webhook expects: an attachment with an Adaptive Card (Japanese, link back)."""
    card = {
        "$schema": ADAPTIVE_CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": [
            {"type": "TextBlock", "text": out.subject, "weight": "Bolder", "size": "Medium", "wrap": True},
            {"type": "TextBlock", "text": out.body.split("\n――\n")[0], "wrap": True},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "ページを開く", "url": out.link}],
        "lang": "ja",
    }
    return {"type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}


def post_card(url: str, out: Outgoing, settings: Settings, *, post: Callable = requests.post) -> None:
    """POST the card; 2xx is delivered. The URL never appears in an error (it carries its own signature)."""
    problem = webhook_problem(url, settings)
    if problem:
        raise SendError(problem, permanent=True)
    verify: bool | str = str(settings.teams_ca_bundle) if settings.teams_ca_bundle else True
    try:
        response = post(url, json=adaptive_card(out), timeout=settings.teams_timeout_seconds, verify=verify,
                        allow_redirects=False)
    except requests.exceptions.SSLError:
        raise SendError("Teams の Webhook とのTLS接続に失敗しました（証明書を確認してください）。") from None
    except (OSError, requests.RequestException) as exc:
        raise SendError(f"Teams の Webhook に接続できません（{type(exc).__name__}）。") from None
    if 200 <= response.status_code < 300:
        return
    if response.status_code == 429:
        raise SendError("Teams が送信を一時的に制限しています（429）。指定された時間の後に再送します。",
                        retry_after=_retry_after(response.headers.get("Retry-After")))
    if response.status_code in (400, 401, 403, 404):
        raise SendError(f"Teams の Webhook が受け付けませんでした（{response.status_code}）。ワークフローが削除・無効化"
                        "されていないか確認し、必要なら URL を設定し直してください。", permanent=True)
    raise SendError(f"Teams の Webhook がエラーを返しました（{response.status_code}）。")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
