"""The notices' Japanese text (pure): 和暦 dates, the 所属 and round names, the deadline, a link back.
``{link}`` in a body becomes the absolute URL of the page when the notice is sent."""

from __future__ import annotations

from datetime import date

from app.jpdate import deadline_note, wareki
from app.outbox.service import Notice

SIGNATURE = "\n\n――\nペーパーレス化状況チェック（業務DX相談窓口）\nこのメールは送信専用です。"


def reminder(*, round_id: int, round_title: str, closes_on: date, section_code: str, section_name: str,
             progress_label: str, number: int, today: date | None = None) -> Notice:
    link = f"/rounds/{round_id}/sections/{section_code}"
    return Notice(
        kind="reminder",
        subject=f"【ペーパーレス化状況チェック】{round_title} 提出のお願い（{section_name}・締切 {wareki(closes_on)}）",
        body=(f"{section_name} DX推進リーダー 様\n\n"
              f"{round_title}のチェックシートがまだ提出されていません（現在の状況: {progress_label}）。\n"
              f"締切は{wareki(closes_on)}です（{deadline_note(closes_on, today)}）。\n"
              f"入力と提出は次のページからできます。\n{{link}}\n\n"
              f"ご不明な点は業務DX相談窓口までお問い合わせください。（督促 {number}回目）" + SIGNATURE),
        link=link,
        payload={"round_id": round_id, "section": section_code, "number": number},
    )


def deadline_soon(*, round_id: int, round_title: str, closes_on: date, section_code: str, section_name: str,
                  today: date | None = None) -> Notice:
    note = deadline_note(closes_on, today)
    return Notice(
        kind="deadline_soon",
        subject=f"【ペーパーレス化状況チェック】{round_title} {note}（{section_name}）",
        body=(f"{section_name} DX推進リーダー 様\n\n{round_title}の締切は{wareki(closes_on)}です（{note}）。\n"
              f"チェックシートがまだ提出されていません。次のページから入力・提出してください。\n{{link}}" + SIGNATURE),
        link=f"/rounds/{round_id}/sections/{section_code}",
        payload={"round_id": round_id, "section": section_code},
    )


def escalation(*, round_id: int, round_title: str, closes_on: date, bureau_code: str, bureau_name: str,
               sections: list[tuple[str, int]], today: date | None = None) -> Notice:
    listed = "\n".join(f"・{name}（督促 {n}回）" for name, n in sections)
    return Notice(
        kind="escalation",
        subject=f"【ペーパーレス化状況チェック】{round_title} 未提出の所属（{bureau_name}）",
        body=(f"{bureau_name} ご担当者 様\n\n"
              f"{round_title}（締切 {wareki(closes_on)}・{deadline_note(closes_on, today)}）で、"
              f"督促を重ねても提出されていない所属があります。\n{listed}\n\n"
              f"部局内でのお声がけをお願いします。状況は次のページで確認できます。\n{{link}}" + SIGNATURE),
        link=f"/desk/board?round={round_id}&bureau={bureau_code}",
        payload={"round_id": round_id, "bureau": bureau_code},
    )


def consult_new(*, section_code: str, section_name: str, requester: str, summary: str, record_id: int) -> Notice:
    return Notice(
        kind="consult_new",
        subject=f"【ペーパーレス化状況チェック】新しい相談: {section_name}",
        body=(f"業務DX相談窓口 御中\n\n{section_name}の{requester}さんから「相談する」がありました。\n\n"
              f"{summary}\n\n対応は次のページから記録できます。\n{{link}}" + SIGNATURE),
        link="/support/inbox",
        payload={"section": section_code, "record_id": record_id},
    )


def consult_answer(*, section_code: str, section_name: str, summary: str, follow_up_on: date | None,
                   record_id: int) -> Notice:
    follow = f"\nフォローアップ予定日: {wareki(follow_up_on)}" if follow_up_on else ""
    return Notice(
        kind="consult_answer",
        subject=f"【ペーパーレス化状況チェック】相談への回答（{section_name}）",
        body=(f"{section_name} DX推進リーダー 様\n\n業務DX相談窓口から、ご相談への回答があります。\n\n"
              f"{summary}{follow}\n\n詳しくは次のページをご覧ください。\n{{link}}" + SIGNATURE),
        link=f"/sections/{section_code}/trend",
        payload={"section": section_code, "record_id": record_id},
    )


def sheet_reopened(*, round_id: int, round_title: str, section_code: str, section_name: str, reason: str,
                   by: str) -> Notice:
    return Notice(
        kind="sheet_reopened",
        subject=f"【ペーパーレス化状況チェック】{round_title} 提出が取り消されました（{section_name}）",
        body=(f"{section_name} DX推進リーダー 様\n\n{round_title}のチェックシートの提出が{by}さんにより取り消され、"
              f"再び入力できる状態になりました。\n理由: {reason or '（記載なし）'}\n\n"
              f"修正のうえ、あらためて提出してください。\n{{link}}" + SIGNATURE),
        link=f"/rounds/{round_id}/sections/{section_code}",
        payload={"round_id": round_id, "section": section_code},
    )


def sheet_sent_back(*, round_id: int, round_title: str, section_code: str, section_name: str, item: str,
                    comment: str, by: str) -> Notice:
    """The desk's 差戻し of an item of a submitted sheet (app/sheets/review.py): the sheet is open again."""
    return Notice(
        kind="sheet_sent_back",
        subject=f"【ペーパーレス化状況チェック】{round_title} 窓口から差戻しがありました（{section_name}）",
        body=(f"{section_name} DX推進リーダー 様\n\n業務DX相談窓口（{by}さん）が、{round_title}のチェックシートの"
              f"次の項目を差し戻しました。シートは再び入力できる状態です。\n\n項目: {item}\nコメント: {comment}\n\n"
              f"項目の横にコメントが表示されています。修正のうえ、あらためて提出してください。\n{{link}}" + SIGNATURE),
        link=f"/rounds/{round_id}/sections/{section_code}",
        payload={"round_id": round_id, "section": section_code},
    )


def round_opened(*, round_id: int, round_title: str, opens_on: date, closes_on: date) -> Notice:
    return Notice(
        kind="round_opened",
        subject=f"【ペーパーレス化状況チェック】{round_title}を開始しました（締切 {wareki(closes_on)}）",
        body=(f"各所属 DX推進リーダー 様\n\n{round_title}を開始しました。\n"
              f"期間: {wareki(opens_on)} ～ {wareki(closes_on)}\n\n"
              f"チェックシートの入力と提出をお願いします。\n{{link}}" + SIGNATURE),
        link="/",
        payload={"round_id": round_id},
    )


def round_closed(*, round_id: int, round_title: str, closes_on: date) -> Notice:
    return Notice(
        kind="round_closed",
        subject=f"【ペーパーレス化状況チェック】{round_title}を締め切りました",
        body=(f"各所属 DX推進リーダー 様\n\n{round_title}（締切 {wareki(closes_on)}）を締め切りました。"
              f"ご協力ありがとうございました。\n結果は次のページで確認できます。\n{{link}}" + SIGNATURE),
        link="/",
        payload={"round_id": round_id},
    )
