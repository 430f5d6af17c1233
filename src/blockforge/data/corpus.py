"""Read the corpora a ``data:`` section names into documents.

A document is a :class:`Doc`: plain text, a conversation (a list of ``{"role", "content"}`` turns, rendered
with the chat template), or a text with a class label. Files are read as UTF-8; a folder is read file by
file in name order, so a corpus reads the same everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from blockforge.errors import BlockforgeError

ROLES = ("system", "user", "assistant")


class DataError(BlockforgeError, ValueError):
    """A corpus cannot be read: a missing file, a malformed record (with file and line), a missing package."""


@dataclass(frozen=True)
class Doc:
    """One training document.

    Attributes:
        text: the text (None for a conversation).
        messages: the turns of a conversation, ``({"role": ..., "content": ...}, ...)``, or None.
        label: the class of a classification example, or None.
    """

    text: str | None = None
    messages: tuple[dict[str, str], ...] | None = None
    label: int | None = None


def _files(path: str) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        if not files:
            raise DataError(f"data folder {path} holds no files")
        return files
    if not p.is_file():
        raise DataError(f"data file {path} does not exist")
    return [p]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None


def _jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    for n, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{n}:{exc.colno}: not JSON: {exc.msg}") from None


def _messages(path: Path, n: int, record: Any) -> tuple[dict[str, str], ...]:
    turns = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(turns, list) or not turns:
        raise DataError(f'{path}:{n}: a conversation record is {{"messages": [{{"role": ..., "content": ...}}, ...]}}')
    out = []
    for i, t in enumerate(turns):
        if not (isinstance(t, dict) and t.get("role") in ROLES and isinstance(t.get("content"), str)):
            raise DataError(f"{path}:{n}: messages[{i}] needs a role ({', '.join(ROLES)}) and string content, got {t!r:.80}")
        out.append({"role": t["role"], "content": t["content"]})
    return tuple(out)


def chatterbot_conversations(language: str) -> list[Doc]:
    """The dialogues of the ``chatterbot-corpus`` package (BSD-3-Clause) in one language.

    Each YAML file holds ``conversations: [[utterance, reply, ...], ...]``; turns alternate user, assistant.

    Args:
        language: a folder of ``chatterbot_corpus/data`` (``english``, ``korean``, ...).

    Returns:
        One conversation per dialogue, files in name order.

    Raises:
        DataError: the package is not installed, or has no such language.
    """
    import yaml

    try:
        root = resources.files("chatterbot_corpus") / "data"
    except ModuleNotFoundError:
        raise DataError("the chatterbot source needs the chatterbot-corpus package: "
                        "pip install 'blockforge[train]' (or chatterbot-corpus)") from None
    folder = root / language
    if not folder.is_dir():
        langs = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataError(f"chatterbot-corpus has no language {language!r}; it has: {', '.join(langs)}")
    docs = []
    for f in sorted((p for p in folder.iterdir() if p.name.endswith((".yml", ".yaml"))), key=lambda p: p.name):
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        for conv in data.get("conversations") or []:
            turns = [str(t).strip() for t in conv if t is not None and str(t).strip()]
            if len(turns) >= 2:
                docs.append(Doc(messages=tuple(
                    {"role": ROLES[1 + i % 2], "content": t} for i, t in enumerate(turns))))
    return docs


def chitchat_conversations() -> list[Doc]:
    """The conversations of the ``chitchat-dataset`` package (MIT; BYU PCC lab's Chit-Chat Challenge).

    ``dataset.json`` maps an id to ``{"messages": [[{"text": ...}, ...], ...]}``: each inner list is one
    speaker's turn (several messages, joined by a space); turns alternate user, assistant.

    Returns:
        One conversation per record, in file order.

    Raises:
        DataError: the package is not installed.
    """
    try:
        path = resources.files("chitchat_dataset") / "dataset.json"
    except ModuleNotFoundError:
        raise DataError("the chitchat source needs the chitchat-dataset package: "
                        "pip install 'blockforge[train]' (or chitchat-dataset)") from None
    data = json.loads(path.read_text(encoding="utf-8"))
    docs = []
    for conv in data.values():
        turns = [" ".join(str(m.get("text", "")).strip() for m in turn).strip() for turn in conv.get("messages", [])]
        turns = [t for t in turns if t]
        if len(turns) >= 2:
            docs.append(Doc(messages=tuple({"role": ROLES[1 + i % 2], "content": t} for i, t in enumerate(turns))))
    return docs


def read_source(source: Any, *, objective: str | None = None) -> list[Doc]:
    """The documents of one ``data.sources`` entry.

    Args:
        source: a validated :class:`~blockforge.spec.training.DataSource`.
        objective: the loss's objective; ``classification`` reads a label with each JSONL record.

    Returns:
        The documents, in file order.

    Raises:
        DataError: unreadable files or malformed records, located by file and line.
    """
    docs = _read_source(source, objective=objective)
    return docs[: source.limit] if source.limit is not None else docs


def _read_source(source: Any, *, objective: str | None) -> list[Doc]:
    fmt = source.format
    if fmt == "chatterbot":
        return chatterbot_conversations(source.language)
    if fmt == "chitchat":
        return chitchat_conversations()
    docs: list[Doc] = []
    for path in _files(source.path):
        if fmt == "text":
            text = _read(path)
            if text.strip():
                docs.append(Doc(text=text))
        elif fmt == "lines":
            docs.extend(Doc(text=line) for line in _read(path).splitlines() if line.strip())
        elif fmt == "conversations":
            docs.extend(Doc(messages=_messages(path, n, rec)) for n, rec in _jsonl(path))
        else:  # jsonl
            for n, rec in _jsonl(path):
                text = rec.get(source.field) if isinstance(rec, dict) else None
                if not isinstance(text, str):
                    raise DataError(f"{path}:{n}: no string field {source.field!r} (data.sources[].field)")
                label = None
                if objective == "classification":
                    label = rec.get(source.label_field)
                    if not isinstance(label, int) or isinstance(label, bool) or label < 0:
                        raise DataError(f"{path}:{n}: field {source.label_field!r} must be a class index >= 0, "
                                        f"got {label!r}")
                docs.append(Doc(text=text, label=label))
    return docs


def guess_source(path: str) -> dict[str, Any]:
    """A ``data.sources`` entry for a path given on the command line (``--data``), by its extension.

    ``.jsonl`` whose first record has ``messages`` is ``conversations``, other ``.jsonl`` is ``jsonl``;
    anything else is ``text``.

    Args:
        path: a file or folder.

    Returns:
        ``{"format": ..., "path": path}``.
    """
    p = Path(path)
    if p.suffix == ".jsonl" and p.is_file():
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    break
                return {"format": "conversations" if isinstance(first, dict) and "messages" in first else "jsonl",
                        "path": path}
        return {"format": "jsonl", "path": path}
    return {"format": "text", "path": path}


def read_sources(sources: Sequence[Any], *, objective: str | None = None) -> list[Doc]:
    """All documents of ``data.sources``, in order.

    Args:
        sources: validated sources.
        objective: the loss's objective.

    Returns:
        The documents.

    Raises:
        DataError: no source, no document, or a source fails to read.
    """
    if not sources:
        raise DataError("no training data: give data.sources in the spec or --data PATH")
    docs = [d for s in sources for d in read_source(s, objective=objective)]
    if not docs:
        raise DataError("the training data holds no documents")
    return docs
