"""Differences between two responses, highlighted without breaking their markdown.

The annotator toggles "Highlight differences" to see where A and B differ. The responses stay
markdown (lists, emphasis, headings, code blocks render as before):

- prose is compared word by word, and a changed plain word is wrapped in Streamlit's
  `:orange-background[...]` directive; words that carry markdown syntax (a list marker, a link,
  a half of `**bold**`) are left as they are rather than broken;
- fenced code blocks stay code blocks: the i-th block of A is compared with the i-th block of B
  line by line, shown as a `diff` block whose changed lines start with `+`;
- when the answers differ almost everywhere (word similarity below MOSTLY_DIFFERENT), painting
  every word helps no one: nothing is highlighted and the screen says so.

Item text is untrusted; HTML stays disabled in st.markdown, and images are neutralized first
(annotate.labeling.item_text), so highlighting adds no way to load remote content.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from annotate.labeling.item_text import NO_IMAGES, ImagePolicy, escape_dollars, neutralize_images

MAX_WORD_DIFF_TOKENS = 20_000
MOSTLY_DIFFERENT = 0.35  # difflib ratio of the two word sequences below which nothing is painted
MOSTLY_DIFFERENT_NOTE = "The two answers differ almost everywhere, so no words are highlighted."
TOO_LONG_NOTE = "The answers are too long to compare word by word; nothing is highlighted."

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})[^\n]*\n.*?(?:^(?P=fence)[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_TOKEN = re.compile(r"`[^`\n]*`|\s+|[^\s`]+|`")
_PLAIN = re.compile(r"[\w.,;:!?'\"%/+=&@$#\u00a0-\uffff-]+")
_EMPHASIZED = re.compile(r"(\*\*|__|\*|_)[\w.,;:!?'\"%/+=&@\u00a0-\uffff-]+\1[.,;:!?]?")
_BLOCK_MARKER = re.compile(r"(?:[-*+]|\d+[.)]|#{1,6}|>+|\|.*|[-*_=]{3,})")
_CODE_BLOCK = "\0code"


@dataclass(frozen=True)
class Highlight:
    """Both responses as markdown, and a note when nothing is highlighted on purpose."""
    left: str
    right: str
    note: str | None = None


def highlight_differences(a: str, b: str, images: ImagePolicy = NO_IMAGES) -> Highlight:
    """Markdown of `a` and `b` (as presented: left, right) with their differences highlighted."""
    a, b = neutralize_images(a, images), neutralize_images(b, images)
    tokens_a, blocks_a = _tokens(a)
    tokens_b, blocks_b = _tokens(b)
    if len(tokens_a) + len(tokens_b) > MAX_WORD_DIFF_TOKENS:  # difflib is quadratic: keep the server free
        return Highlight(escape_dollars(a), escape_dollars(b), TOO_LONG_NOTE)
    words_a = [t for t in tokens_a if not t.isspace()]
    words_b = [t for t in tokens_b if not t.isspace()]
    if words_a == words_b:
        return Highlight(escape_dollars(a), escape_dollars(b))
    if difflib.SequenceMatcher(None, words_a, words_b, autojunk=False).ratio() < MOSTLY_DIFFERENT:
        return Highlight(escape_dollars(a), escape_dollars(b), MOSTLY_DIFFERENT_NOTE)
    changed_a, changed_b = _changed_flags(tokens_a, tokens_b)
    return Highlight(_render(tokens_a, changed_a, blocks_a, blocks_b),
                     _render(tokens_b, changed_b, blocks_b, blocks_a))


def _tokens(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Prose tokens (words, whitespace, inline code spans), each fenced block as one token;
    and the blocks as (fence line, body)."""
    tokens: list[str] = []
    blocks: list[tuple[str, str]] = []
    last = 0
    for match in _FENCE.finditer(text):
        tokens.extend(_TOKEN.findall(text[last:match.start()]))
        first_line, _, rest = match.group(0).partition("\n")
        blocks.append((first_line, rest))
        tokens.append(f"{_CODE_BLOCK}{len(blocks) - 1}\0{match.group(0)}")
        last = match.end()
    tokens.extend(_TOKEN.findall(text[last:]))
    return tokens, blocks


def _changed_flags(tokens_a: list[str], tokens_b: list[str]) -> tuple[list[bool], list[bool]]:
    """Per token, whether it is part of a difference (code blocks compare by their text)."""
    key_a = [t.split("\0", 2)[2] if t.startswith(_CODE_BLOCK) else t for t in tokens_a]
    key_b = [t.split("\0", 2)[2] if t.startswith(_CODE_BLOCK) else t for t in tokens_b]
    changed_a, changed_b = [False] * len(tokens_a), [False] * len(tokens_b)
    matcher = difflib.SequenceMatcher(None, key_a, key_b, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op != "equal":
            changed_a[a0:a1] = [True] * (a1 - a0)
            changed_b[b0:b1] = [True] * (b1 - b0)
    return changed_a, changed_b


def _render(tokens: list[str], changed: list[bool], blocks: list[tuple[str, str]],
            other_blocks: list[tuple[str, str]]) -> str:
    """Markdown of one side: changed plain words wrapped, a run of them (on one line) as one span."""
    pieces: list[tuple[str, bool]] = []  # (markdown, is highlighted)
    at_line_start = True
    for token, is_changed in zip(tokens, changed):
        if token.startswith(_CODE_BLOCK):
            index = int(token[len(_CODE_BLOCK):].split("\0", 1)[0])
            other = other_blocks[index][1] if index < len(other_blocks) else ""
            pieces.append((_code_diff(*blocks[index], other) if is_changed else token.split("\0", 2)[2], False))
            at_line_start = True
            continue
        if token.isspace():
            pieces.append((token, False))
            at_line_start = at_line_start or "\n" in token
            continue
        is_marker = at_line_start and _BLOCK_MARKER.fullmatch(token) is not None
        at_line_start = False
        pieces.append((escape_dollars(token), is_changed and not is_marker and _is_wrappable(token)))
    return "".join(_merge_runs(pieces))


def _merge_runs(pieces: list[tuple[str, bool]]) -> list[str]:
    """Wrap each run of highlighted pieces, joined by spaces within a line, in one directive."""
    out: list[str] = []
    run: list[str] = []
    gap = ""  # whitespace after a highlighted piece: inside the run if another one follows
    for text, is_highlighted in pieces:
        if is_highlighted:
            run.extend([gap, text] if run else [text])
            gap = ""
        elif run and not gap and text.isspace() and "\n" not in text:
            gap = text
        else:
            if run:
                out.append(f":orange-background[{''.join(run)}]")
                run = []
            out.append(gap + text)
            gap = ""
    if run:
        out.append(f":orange-background[{''.join(run)}]")
    out.append(gap)
    return out


def _is_wrappable(token: str) -> bool:
    """Whether wrapping the token in a directive keeps its markdown intact."""
    if token.startswith("`"):
        return len(token) > 2 and token.endswith("`") and not any(c in token for c in "[]")
    return _PLAIN.fullmatch(token) is not None or _EMPHASIZED.fullmatch(token) is not None


def _code_diff(first_line: str, body: str, other_body: str) -> str:
    """A changed fenced block as a `diff` block: `+ ` marks lines not in the other answer's block."""
    fence = re.match(r"`{3,}|~{3,}", first_line).group(0)
    lines = body.split("\n")
    if lines and lines[-1].strip() == fence:
        lines = lines[:-1]
    other = other_body.split("\n")
    matcher = difflib.SequenceMatcher(None, lines, other, autojunk=False)
    marked = []
    for op, a0, a1, _, _ in matcher.get_opcodes():
        marked.extend(("  " if op == "equal" else "+ ") + line for line in lines[a0:a1])
    return f"{fence}diff\n" + "\n".join(marked) + f"\n{fence}"
