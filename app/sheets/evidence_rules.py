"""Evidence on an answer (根拠資料, issue 14.1 and 14.5): the rules for links and files. Pure: no database, no
settings object (the limits come in as plain values), so every rule has a unit test of its own.

- A link is an absolute URL whose scheme is allowed (https by default; ``javascript:``, ``file:``, ``data:`` and
  ``vbscript:`` never) and whose host matches one of the allowed patterns (``*.sharepoint.com`` matches any
  subdomain, never the bare domain or a look-alike such as ``evil-sharepoint.com``). No user name or password
  in a link, no control characters or spaces.
- A file's type comes from its content (magic bytes), never from its name: PDF, PNG, JPEG, and XLSX / DOCX (a ZIP
  whose entries include ``[Content_Types].xml`` and ``xl/`` resp. ``word/``). A ZIP is judged from its central
  directory (``zipfile.infolist``) without extracting anything: entry count, total uncompressed size and each
  entry's compression ratio are bounded (a zip bomb is refused). Executables (MZ, ELF, Mach-O, ``#!`` scripts)
  are named as such in the refusal.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from urllib.parse import urlsplit

PDF, PNG, JPEG = "application/pdf", "image/png", "image/jpeg"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TYPE_LABELS = {PDF: "PDF", PNG: "PNG", JPEG: "JPEG", XLSX: "Excel（XLSX）", DOCX: "Word（DOCX）"}
EXTENSIONS = {PDF: ".pdf", PNG: ".png", JPEG: ".jpg", XLSX: ".xlsx", DOCX: ".docx"}
ALLOWED_TYPES_TEXT = "PDF・PNG・JPEG・Excel（XLSX）・Word（DOCX）"

URL_MAX = 2000
LABEL_MAX = 200
FILENAME_MAX = 200
NEVER_SCHEMES = frozenset({"javascript", "file", "data", "vbscript", "blob", "about"})


class EvidenceRefused(ValueError):
    """Refused evidence; the message is Japanese and says what to do."""


@dataclass(frozen=True)
class Limits:
    """The settings that bound evidence (``app.config.Settings.evidence_*``), as plain values."""

    schemes: tuple[str, ...] = ("https",)
    hosts: tuple[str, ...] = ("*.sharepoint.com", "teams.microsoft.com")
    max_file_bytes: int = 5_000_000
    max_files: int = 5
    max_links: int = 10
    zip_max_entries: int = 1000
    zip_max_total_bytes: int = 50_000_000
    zip_max_ratio: int = 100


# --- links ------------------------------------------------------------------------------------------------


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """``host`` (lower case) matches a pattern: ``*.example.com`` = any name ending in ``.example.com`` (one or more
    labels), anything else = that host exactly."""
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if not pattern:
            continue
        if pattern.startswith("*."):
            suffix = pattern[1:]  # ".example.com"
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif host == pattern:
            return True
    return False


def check_link(raw: str, limits: Limits) -> str:
    """The link to store (trimmed), or EvidenceRefused saying why."""
    url = (raw or "").strip()
    if not url:
        raise EvidenceRefused("リンクのURLを入力してください。")
    if len(url) > URL_MAX:
        raise EvidenceRefused(f"URLが長すぎます（{URL_MAX}文字まで）。")
    if any(unicodedata.category(c)[0] in "CZ" for c in url):
        raise EvidenceRefused("URLに空白や制御文字は使えません。アドレスバーのURLをそのまま貼り付けてください。")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    allowed = ", ".join(f"{s}:" for s in limits.schemes)
    if scheme in NEVER_SCHEMES:
        raise EvidenceRefused(f"「{scheme}:」で始まるリンクは登録できません（使えるのは {allowed} だけです）。"
                              "ファイルは「ファイルを添付」から添付してください。")
    if not scheme or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        raise EvidenceRefused(f"URLは {allowed}// で始まる形で入力してください。")
    if scheme not in limits.schemes:
        raise EvidenceRefused(f"「{scheme}:」のリンクは登録できません（使えるのは {allowed} だけです）。")
    try:
        parts = urlsplit(url)
        port = parts.port  # noqa: F841 (a bad port raises here)
    except ValueError:
        raise EvidenceRefused("URLの形式が正しくありません。アドレスバーのURLをそのまま貼り付けてください。") from None
    if parts.username is not None or parts.password is not None:
        raise EvidenceRefused("ユーザー名やパスワードを含むURLは登録できません。")
    host = (parts.hostname or "").lower()
    if not host:
        raise EvidenceRefused("URLにサーバー名がありません。アドレスバーのURLをそのまま貼り付けてください。")
    if not host_allowed(host, limits.hosts):
        raise EvidenceRefused(f"「{host}」へのリンクは登録できません。登録できるのは {'、'.join(limits.hosts)} の"
                              "リンクです（庁内のSharePoint・Teams・ファイルサーバー）。")
    return url


def clean_label(raw: str | None) -> str:
    """A link's optional label: one line, control characters refused."""
    label = " ".join((raw or "").split())
    if any(unicodedata.category(c) == "Cc" for c in label):
        raise EvidenceRefused("表示名に制御文字は使えません。")
    if len(label) > LABEL_MAX:
        raise EvidenceRefused(f"表示名は{LABEL_MAX}文字以内にしてください（現在{len(label)}文字）。")
    return label


# --- files ------------------------------------------------------------------------------------------------


def clean_filename(raw: str | None, content_type: str) -> str:
    """The name to show and to send back: the last path part, control and path characters removed, the
    extension of the sniffed type (a PDF named ``x.exe`` is stored as ``x.exe.pdf``)."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name)
                   if unicodedata.category(c)[0] != "C" and c not in '<>:"|?*')
    name = name.strip(" .") or "file"
    ext = EXTENSIONS[content_type]
    if not name.lower().endswith(ext) and not (content_type == JPEG and name.lower().endswith(".jpeg")):
        name += ext
    if len(name) > FILENAME_MAX:
        name = name[:FILENAME_MAX - len(ext)] + ext
    return name


def _executable(data: bytes) -> str | None:
    if data.startswith(b"MZ"):
        return "Windowsの実行ファイル"
    if data.startswith(b"\x7fELF"):
        return "実行ファイル（ELF）"
    if data[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                    b"\xca\xfe\xba\xbe"):
        return "実行ファイル（Mach-O）"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#!"):
        return "スクリプト"
    return None


def _office(data: bytes, limits: Limits) -> str:
    """XLSX or DOCX from the ZIP's central directory, or EvidenceRefused (not Office, or a zip bomb)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise EvidenceRefused("ZIP形式のファイルが壊れています。Excel・Wordで保存し直してから添付してください。") from None
    if len(infos) > limits.zip_max_entries:
        raise EvidenceRefused(f"ファイルの中身が多すぎます（{len(infos):,}件、{limits.zip_max_entries:,}件まで）。"
                              "圧縮爆弾の疑いがあるため受け付けません。")
    total = 0
    for info in infos:
        total += info.file_size
        compressed = max(info.compress_size, 1)
        if info.file_size > 1_000_000 and info.file_size / compressed > limits.zip_max_ratio:
            raise EvidenceRefused(f"異常に圧縮率の高いデータ（{info.file_size / compressed:,.0f}倍）を含むため受け付けません"
                                  "（圧縮爆弾の疑い）。Excel・Wordで保存し直してから添付してください。")
    if total > limits.zip_max_total_bytes:
        raise EvidenceRefused(f"展開後のサイズが大きすぎます（{total / 1_000_000:,.0f}MB、"
                              f"{limits.zip_max_total_bytes // 1_000_000}MBまで）。圧縮爆弾の疑いがあるため受け付けません。")
    names = {info.filename for info in infos}
    if "[Content_Types].xml" in names:
        if any(n.startswith("xl/") for n in names):
            return XLSX
        if any(n.startswith("word/") for n in names):
            return DOCX
    raise EvidenceRefused(f"このZIPファイルはExcel（XLSX）・Word（DOCX）ではありません。添付できるのは{ALLOWED_TYPES_TEXT}です。")


def sniff(data: bytes, limits: Limits) -> str:
    """The content type of a file judged from its bytes, or EvidenceRefused."""
    if not data:
        raise EvidenceRefused("ファイルが空です（0バイト）。中身のあるファイルを選んでください。")
    if len(data) > limits.max_file_bytes:
        raise EvidenceRefused(f"ファイルが大きすぎます（{len(data) / 1_000_000:,.1f}MB）。"
                              f"{limits.max_file_bytes / 1_000_000:g}MBまでのファイルを添付してください。")
    kind = _executable(data)
    if kind:
        raise EvidenceRefused(f"{kind}は添付できません（ファイル名に関係なく、中身で判定しています）。"
                              f"添付できるのは{ALLOWED_TYPES_TEXT}です。")
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        return _office(data, limits)
    raise EvidenceRefused(f"この種類のファイルは添付できません（中身で判定しています）。添付できるのは{ALLOWED_TYPES_TEXT}です。")


def check_count(kind: str, present: int, limits: Limits) -> None:
    """One more link or file on an answer that has ``present`` of them."""
    most = limits.max_files if kind == "file" else limits.max_links
    if present >= most:
        what = "ファイル" if kind == "file" else "リンク"
        raise EvidenceRefused(f"1つの項目に添付できる{what}は{most}件までです。不要なものを削除してから追加してください。")
