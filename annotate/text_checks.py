"""NUL characters (U+0000): refused in files and names, removed from text typed on the label screen.

PostgreSQL's text and jsonb types cannot hold U+0000; DuckDB can. So that a project behaves the
same on both backends (and a DuckDB backup restores into PostgreSQL), the same rule applies on both:

- An import (any shape, any format, the adapters) that contains one anywhere, in a value or in a
  column name, is refused as a whole before anything is written, naming the file, line (or record
  or row) and field: a NUL in a data file is damage (a truncated export, a binary column), and
  silently changing a prompt or a response would change what annotators and judges compare.
- A name (an annotator's, a project's) that contains one is refused: names are what people type and
  look up, and stripping would turn "a\\x00b" into "ab", which may already exist.
- Free text an annotator types on the label screen (a justification, a flag's comment, a skip's
  reason) has the NUL removed: it is invisible on screen and carries no meaning, and refusing would
  make the annotator lose their label over a character they cannot see or delete.
- A judge's reply (raw output, rationale) has each NUL replaced by U+FFFD: a model's reply cannot be
  refused after the fact, and the raw text is kept for audit, so the replacement character marks
  where something unprintable came back instead of silently closing the gap.
"""
from __future__ import annotations

from typing import Any

from annotate.errors import AnnotateError

NUL = "\x00"
NUL_PROBLEM = ("text contains a NUL character (\\u0000), which PostgreSQL cannot store, so no backend "
               "imports it; remove it from the file and import again")


def nul_field(value: Any, path: str = "") -> str | None:
    """The path of the first key or text value that holds a NUL in a record (`'prompt'`,
    `'metadata.tags[2]'`; a NUL in a key is written as \\u0000); None when there is none. Lists
    and dicts are searched; other values (numbers, dates) cannot hold one."""
    if isinstance(value, str):
        return path.replace(NUL, "\\u0000") if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and NUL in key:
                return name.replace(NUL, "\\u0000")
            found = nul_field(item, name)
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = nul_field(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def refuse_nul(name: str, what: str, error: type[AnnotateError] = AnnotateError) -> str:
    """`name` unchanged, or `error` when it holds a NUL (`what`: 'An annotator name', ...)."""
    if NUL in name:
        raise error(f"{what} {name!r} contains a NUL character (\\u0000), "
                            f"which no backend stores in a name; type the name without it")
    return name


def replace_nul(text: str | None) -> str | None:
    """Received text (a judge's reply) with each NUL as U+FFFD (None stays None)."""
    return text.replace(NUL, "\ufffd") if text and NUL in text else text


def strip_nul(text: str | None) -> str | None:
    """Typed free text without NUL characters (None stays None)."""
    return text.replace(NUL, "") if text and NUL in text else text
