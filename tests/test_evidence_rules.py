"""The pure rules of evidence (app/sheets/evidence_rules.py): links' schemes and hosts, files' types from their
content, zip bombs judged from the central directory, disguised executables, sizes and counts."""

from __future__ import annotations

import io
import zipfile

import pytest

from app.sheets import evidence_rules as r
from app.sheets.evidence_rules import EvidenceRefused, Limits

LIMITS = Limits(hosts=("*.sharepoint.com", "teams.microsoft.com", "files.pref.example.jp"), max_file_bytes=200_000,
                max_files=2, max_links=3, zip_max_entries=50, zip_max_total_bytes=5_000_000, zip_max_ratio=100)
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def office(folder: str, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(f"{folder}/document.xml", "<x/>")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buffer.getvalue()


def zip_bomb(folder: str = "word") -> bytes:
    """A DOCX whose one entry is 20 MB of zeros (about 20 KB compressed: a ratio of ~1000)."""
    return office(folder, {f"{folder}/media/zeros.bin": b"\x00" * 20_000_000})


@pytest.mark.parametrize("url", [
    "https://pref.sharepoint.com/sites/dx/Shared%20Documents/plan.pdf",
    "https://teams.microsoft.com/l/channel/19%3aabc/General",
    "https://files.pref.example.jp/share/dx/",
    "HTTPS://Pref.SharePoint.com/x",
])
def test_links_to_allowed_hosts_over_https_are_kept(url):
    assert r.check_link(f"  {url} ", LIMITS) == url


@pytest.mark.parametrize(("url", "says"), [
    ("javascript:alert(1)", "「javascript:」で始まるリンクは登録できません"),
    ("JavaScript:alert(1)", "「javascript:」"),
    ("file:///C:/secret.txt", "「file:」で始まるリンク"),
    ("data:text/html,<script>alert(1)</script>", "「data:」で始まるリンク"),
    ("http://pref.sharepoint.com/x", "「http:」のリンクは登録できません"),
    ("https://evil.example.com/x", "「evil.example.com」へのリンクは登録できません"),
    ("https://sharepoint.com/x", "「sharepoint.com」へのリンク"),  # the bare domain is not a subdomain
    ("https://evilsharepoint.com/x", "「evilsharepoint.com」"),
    ("https://pref.sharepoint.com.evil.jp/x", "「pref.sharepoint.com.evil.jp」"),
    ("https://user:pw@pref.sharepoint.com/x", "ユーザー名やパスワード"),
    ("https://pref.sharepoint.com/a b", "空白や制御文字"),
    ("https://pref.sharepoint.com/a\nb", "空白や制御文字"),
    ("pref.sharepoint.com/x", "で始まる形で"),
    ("", "URLを入力してください"),
    ("https:///x", "サーバー名がありません"),
])
def test_bad_links_are_refused_with_a_reason(url, says):
    with pytest.raises(EvidenceRefused, match=says):
        r.check_link(url, LIMITS)


def test_a_scheme_allowed_by_settings_is_accepted_and_file_never():
    limits = Limits(schemes=("https", "http"), hosts=("intra.example.jp",))
    assert r.check_link("http://intra.example.jp/a", limits) == "http://intra.example.jp/a"
    with pytest.raises(EvidenceRefused, match="file:"):
        r.check_link("file://intra.example.jp/a", Limits(schemes=("https", "file"), hosts=("intra.example.jp",)))


@pytest.mark.parametrize(("data", "expected"), [
    (PDF, r.PDF), (PNG, r.PNG), (JPEG, r.JPEG), (office("xl"), r.XLSX), (office("word"), r.DOCX)])
def test_the_type_comes_from_the_content(data, expected):
    assert r.sniff(data, LIMITS) == expected


@pytest.mark.parametrize(("data", "says"), [
    (b"MZ\x90\x00" + b"\x00" * 60, "Windowsの実行ファイル"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 40, "実行ファイル（ELF）"),
    (b"#!/bin/sh\nrm -rf /\n", "スクリプト"),
    (b"\xef\xbb\xbf#!/usr/bin/env python\n", "スクリプト"),
    (b"<html><script>alert(1)</script></html>", "この種類のファイルは添付できません"),
    (b"", "ファイルが空です"),
])
def test_executables_and_unknown_content_are_refused_whatever_the_name(data, says):
    with pytest.raises(EvidenceRefused, match=says):
        r.sniff(data, LIMITS)


def test_a_zip_that_is_not_office_and_a_broken_zip_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("payload.exe", b"MZ")
    with pytest.raises(EvidenceRefused, match="Excel（XLSX）・Word（DOCX）ではありません"):
        r.sniff(buffer.getvalue(), LIMITS)
    with pytest.raises(EvidenceRefused, match="壊れています"):
        r.sniff(b"PK\x03\x04" + b"\x00" * 100, LIMITS)


def test_a_zip_bomb_in_a_docx_is_refused_from_its_central_directory():
    bomb = zip_bomb()
    assert len(bomb) < LIMITS.max_file_bytes  # small on the wire
    with pytest.raises(EvidenceRefused, match="圧縮爆弾"):
        r.sniff(bomb, LIMITS)
    # a high ratio alone (without the total) is refused too
    with pytest.raises(EvidenceRefused, match="異常に圧縮率の高い"):
        r.sniff(bomb, Limits(max_file_bytes=200_000, zip_max_total_bytes=10**9))


def test_a_zip_bomb_by_total_size_and_by_entry_count_is_refused():
    # many entries of modest ratio, expanding past the total
    wide = office("xl", {f"xl/part{i}.xml": bytes(range(256)) * 4000 for i in range(8)})
    with pytest.raises(EvidenceRefused, match="展開後のサイズが大きすぎます"):
        r.sniff(wide, Limits(max_file_bytes=10_000_000, zip_max_total_bytes=5_000_000, zip_max_ratio=10**6))
    many = office("xl", {f"xl/p{i}.xml": b"<x/>" for i in range(60)})
    with pytest.raises(EvidenceRefused, match="中身が多すぎます"):
        r.sniff(many, LIMITS)


def test_files_over_the_limit_are_refused():
    with pytest.raises(EvidenceRefused, match=r"0.2MBまで"):
        r.sniff(PDF + b"\x00" * LIMITS.max_file_bytes, LIMITS)
    assert r.sniff(PDF + b"\x00" * (LIMITS.max_file_bytes - len(PDF)), LIMITS) == r.PDF


def test_counts_per_answer():
    r.check_count("file", 1, LIMITS)
    with pytest.raises(EvidenceRefused, match="ファイルは2件まで"):
        r.check_count("file", 2, LIMITS)
    r.check_count("link", 2, LIMITS)
    with pytest.raises(EvidenceRefused, match="リンクは3件まで"):
        r.check_count("link", 3, LIMITS)


def test_file_names_keep_the_person_s_name_with_the_sniffed_extension():
    assert r.clean_filename("C:\\Users\\me\\業務改善計画.pdf", r.PDF) == "業務改善計画.pdf"
    assert r.clean_filename("../../etc/passwd", r.PDF) == "passwd.pdf"
    assert r.clean_filename("invoice.exe", r.PDF) == "invoice.exe.pdf"
    assert r.clean_filename("photo.JPEG", r.JPEG) == "photo.JPEG"
    assert r.clean_filename("a\x00b\r\n.png", r.PNG) == "ab.png"
    assert r.clean_filename("", r.DOCX) == "file.docx"
    assert len(r.clean_filename("あ" * 500 + ".xlsx", r.XLSX)) == r.FILENAME_MAX


def test_labels():
    assert r.clean_label("  業務 計画\n") == "業務 計画"
    with pytest.raises(EvidenceRefused, match="表示名は"):
        r.clean_label("x" * (r.LABEL_MAX + 1))
