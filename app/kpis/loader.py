"""Read and validate figure definition files (``kpis/<id>/v<N>.yaml``). Errors name the file, the figure
and the field; a broken file stops start-up (``app.main``) and ``paperless check``."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.checklists.loader import DefinitionError, read_definition
from app.kpis.schema import KpiSet

FILE_NAME = re.compile(r"^v([1-9][0-9]*)\.yaml$")


class KpiDefinitionError(DefinitionError):
    """A figures definition file cannot be used."""


@dataclass(frozen=True)
class LoadedKpis:
    path: str
    source: str
    sha256: str
    kpis: KpiSet


def parse_kpis(raw: bytes, *, display_path: str) -> LoadedKpis:
    source, kpis = read_definition(raw, display_path, KpiSet, KpiDefinitionError, "id, version, figures", _describe)
    return LoadedKpis(display_path, source, hashlib.sha256(raw).hexdigest(), kpis)


def load_kpis(path: Path | str, *, display_path: str | None = None) -> LoadedKpis:
    path = Path(path)
    shown = display_path or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KpiDefinitionError(shown, [f"読めません（{exc.strerror}）"]) from exc
    loaded = parse_kpis(raw, display_path=shown)
    match = FILE_NAME.match(path.name)
    if match is None or int(match.group(1)) != loaded.kpis.version or path.parent.name != loaded.kpis.id:
        raise KpiDefinitionError(shown, [f"ファイルは kpis/{loaded.kpis.id}/v{loaded.kpis.version}.yaml "
                                         "（id のフォルダに v版.yaml）に置いてください"])
    return loaded


def load_directory(root: Path, *, checklist_keys: Mapping[str, Collection[str]] | None = None) -> list[LoadedKpis]:
    """Every ``*.yaml`` under ``root`` (all or nothing). ``checklist_keys``: checklist id → every item key of
    its files; given, each figure's ``items`` must name items of its checklist when that checklist is loaded
    (an app started with other checklists, as some tests do, shows no linked items instead of refusing)."""
    loaded = [load_kpis(path, display_path=_relative(path, root)) for path in sorted(root.rglob("*.yaml"))]
    seen: dict[tuple[str, int], str] = {}
    for entry in loaded:
        ident = (entry.kpis.id, entry.kpis.version)
        if ident in seen:
            raise KpiDefinitionError(entry.path, [f"{ident[0]} の version {ident[1]} は {seen[ident]} と重複しています"])
        seen[ident] = entry.path
        if checklist_keys is not None and entry.kpis.checklist in checklist_keys:
            check_items(entry, checklist_keys)
    return loaded


def check_items(entry: LoadedKpis, checklist_keys: Mapping[str, Collection[str]]) -> None:
    keys = checklist_keys.get(entry.kpis.checklist)
    if keys is None:
        raise KpiDefinitionError(entry.path, [f"checklist「{entry.kpis.checklist}」のチェックシートがありません"])
    problems = [f"実績値「{f.key}」の items: チェック項目「{k}」は {entry.kpis.checklist} にありません"
                for f in entry.kpis.figures for k in f.items if k not in keys]
    if problems:
        raise KpiDefinitionError(entry.path, problems)


def keys_of(checklist_files) -> dict[str, set[str]]:
    """Checklist id → every item key of its files (``checklists.loader.LoadedChecklist`` list)."""
    keys: dict[str, set[str]] = {}
    for entry in checklist_files:
        keys.setdefault(entry.checklist.id, set()).update(item.key for _category, item in entry.checklist.items)
    return keys


def newest(files: list[LoadedKpis]) -> dict[str, LoadedKpis]:
    """The newest file of each set: the definitions in force."""
    found: dict[str, LoadedKpis] = {}
    for entry in files:
        have = found.get(entry.kpis.id)
        if have is None or have.kpis.version < entry.kpis.version:
            found[entry.kpis.id] = entry
    return found


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


_MESSAGES = {
    "missing": "がありません",
    "extra_forbidden": "は使えない項目名です（綴りを確認してください）",
    "literal_error": "の値が使えません",
    "string_pattern_mismatch": "の形式が違います（英小文字・数字・. - だけ）",
    "string_too_short": "が空です",
    "too_short": "が空です",
    "string_too_long": "が長すぎます",
    "int_parsing": "は整数で書いてください",
    "bool_parsing": "は true か false です",
    "greater_than_equal": "は0以上にしてください",
}


def _describe(err: dict[str, Any], data: dict) -> str:
    loc = list(err["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "figures" and isinstance(loc[1], int):
        try:
            figure = data["figures"][loc[1]]
            key = figure.get("key") if isinstance(figure, dict) else None
        except (KeyError, IndexError, TypeError):
            key = None
        where = f"実績値「{key}」の " if key else f"{loc[1] + 1}番目の実績値の "
        loc = loc[2:]
    field = ".".join(str(p) for p in loc) or "（全体）"
    if err["type"] == "value_error":
        return f"{where}{field}: {err.get('ctx', {}).get('error', err['msg'])}"
    if err["type"] == "literal_error" and loc and loc[-1] == "period":
        return f"{where}period は monthly（月ごと）か yearly（年度ごと）です"
    if err["type"] == "literal_error" and loc and loc[-1] == "direction":
        return f"{where}direction は lower（少ないほどよい）か higher（多いほどよい）です"
    value = err.get("input")
    shown = "" if isinstance(value, (dict, list)) or value is None or err["type"] == "missing" else f"（値: {value!r}）"
    return f"{where}{field} {_MESSAGES.get(err['type'], err['msg'])}{shown}"
