"""Read and validate checklist definition files. Errors name the file, the item and the field."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from app.checklists.schema import Checklist

M = TypeVar("M", bound=BaseModel)


class DefinitionError(ValueError):
    """A definition file (a checklist, the measured figures) cannot be used. ``problems`` are one line each,
    for people."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


class ChecklistDefinitionError(DefinitionError):
    """A checklist file cannot be used."""


@dataclass(frozen=True)
class LoadedChecklist:
    path: str
    source: str
    sha256: str
    checklist: Checklist


def load_checklist(path: Path | str, *, display_path: str | None = None) -> LoadedChecklist:
    path = Path(path)
    shown = display_path or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ChecklistDefinitionError(shown, [f"読めません（{exc.strerror}）"]) from exc
    return parse_checklist(raw, display_path=shown)


def read_definition(raw: bytes, display_path: str, model: type[M], error: type[DefinitionError], fields: str,
                    describe: Callable[[dict[str, Any], dict], str]) -> tuple[str, M]:
    """(text, ``model``) from a YAML definition file; every problem (encoding, YAML, each failed field through
    ``describe``) raised as ``error``, one sentence a person can act on each. ``fields``: the top-level keys
    a file needs, for the message when it holds no mapping."""
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(display_path, ["UTF-8 で保存してください"]) from exc
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}行目: " if mark else ""
        raise error(display_path, [f"{where}YAMLとして読めません"]) from exc
    if not isinstance(data, dict):
        raise error(display_path, [f"中身が空か、形式が違います（{fields} が必要）"])
    try:
        return source, model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # A container reported as a whole when one of its elements failed adds only noise.
        errors = [e for e in errors if not any(len(o["loc"]) > len(e["loc"]) and o["loc"][: len(e["loc"])] == e["loc"]
                                               for o in errors)]
        raise error(display_path, [describe(err, data) for err in errors]) from exc


def parse_checklist(raw: bytes, *, display_path: str) -> LoadedChecklist:
    source, checklist = read_definition(raw, display_path, Checklist, ChecklistDefinitionError,
                                        "id, version, categories", _describe)
    return LoadedChecklist(display_path, source, hashlib.sha256(raw).hexdigest(), checklist)


def load_directory(root: Path) -> list[LoadedChecklist]:
    """Every ``*.yaml`` under ``root``; all or nothing (the first broken file stops the load)."""
    loaded = []
    for path in sorted(root.rglob("*.yaml")):
        loaded.append(load_checklist(path, display_path=_relative(path, root)))
    seen: dict[tuple[str, int], str] = {}
    for entry in loaded:
        ident = (entry.checklist.id, entry.checklist.version)
        if ident in seen:
            raise ChecklistDefinitionError(
                entry.path, [f"{ident[0]} の version {ident[1]} は {seen[ident]} と重複しています"]
            )
        seen[ident] = entry.path
    return loaded


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _describe(err: dict[str, Any], data: dict) -> str:
    """'項目「key」(categories[0].items[1]) の difficulty: …' from a pydantic error."""
    loc = list(err["loc"])
    where = _where(loc, data)
    field = ".".join(str(p) for p in loc[_item_depth(loc):]) or "（全体）"
    value = err.get("input")
    shown = "" if isinstance(value, (dict, list)) or value is None or err["type"] == "missing" else f"（値: {value!r}）"
    message = _message(err)
    sep = ": " if err["type"] == "value_error" or message[0] not in "がはの" else " "
    return f"{where}{field}{sep}{message}{shown}"


def _item_depth(loc: list) -> int:
    if len(loc) >= 4 and loc[0] == "categories" and loc[2] == "items":
        return 4
    if len(loc) >= 2 and loc[0] == "categories":
        return 2
    return 0


def _where(loc: list, data: dict) -> str:
    try:
        if len(loc) >= 4 and loc[0] == "categories" and loc[2] == "items":
            item = data["categories"][loc[1]]["items"][loc[3]]
            key = item.get("key") if isinstance(item, dict) else None
            label = f"「{key}」" if key else f"{loc[3] + 1}番目"
            return f"カテゴリ{loc[1] + 1}の項目{label} の "
        if len(loc) >= 2 and loc[0] == "categories":
            return f"カテゴリ{loc[1] + 1} の "
    except (KeyError, IndexError, TypeError):
        pass
    return ""


_MESSAGES = {
    "missing": "がありません",
    "extra_forbidden": "は使えない項目名です（綴りを確認してください）",
    "literal_error": "の値が使えません",
    "string_pattern_mismatch": "の形式が違います",
    "string_too_short": "が空です",
    "too_short": "が空です",
    "int_parsing": "は整数で書いてください",
    "int_type": "は整数で書いてください",
    "greater_than_equal": "は1以上にしてください",
    "enum": "は ◎ ○ △ × 該当なし のいずれかです",
}


def _message(err: dict[str, Any]) -> str:
    if err["type"] == "value_error":
        return str(err.get("ctx", {}).get("error", err["msg"]))
    if err["type"] == "literal_error" and err["loc"][-1] == "difficulty":
        return "は 1, 2, 3 のいずれか（☆の数）にしてください"
    text = _MESSAGES.get(err["type"])
    return text if text else err["msg"]
