"""Word-level differences between two responses, rendered as markdown that cannot inject markup.

The texts come from datasets and models, so they are untrusted: every markdown-special character
is backslash-escaped (CommonMark treats any escaped ASCII punctuation as a literal), and changed
words are wrapped in Streamlit's `:orange-background[...]` directive. Raw HTML is never produced.
"""
from __future__ import annotations

import difflib
import re

_TOKEN = re.compile(r"\s+|[^\s]+")
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'^%@/])")
Segment = tuple[str, bool]


MAX_WORD_DIFF_TOKENS = 20_000


def diff_words(a: str, b: str) -> tuple[list[Segment], list[Segment]]:
    """Split both texts into (token, is_changed) segments, using difflib's longest matching blocks.

    difflib's time grows with the product of the two lengths, so long texts (together more than
    MAX_WORD_DIFF_TOKENS words and spaces) are compared line by line instead: a 5 MB response
    must not tie up the server when an annotator toggles the highlighting.
    """
    tokens_a, tokens_b = _TOKEN.findall(a), _TOKEN.findall(b)
    if len(tokens_a) + len(tokens_b) > MAX_WORD_DIFF_TOKENS:
        tokens_a, tokens_b = a.splitlines(keepends=True), b.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, tokens_a, tokens_b, autojunk=False)
    left: list[Segment] = []
    right: list[Segment] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        changed = op != "equal"
        left.extend((t, changed and not t.isspace()) for t in tokens_a[a0:a1])
        right.extend((t, changed and not t.isspace()) for t in tokens_b[b0:b1])
    return left, right


def escape_markdown(text: str) -> str:
    """Escape every markdown-special character so the text renders literally."""
    return _SPECIAL.sub(r"\\\1", text)


def highlighted_markdown(segments: list[Segment], color: str = "orange") -> str:
    """Markdown showing the segments literally, changed words on a coloured background.

    Line breaks become hard breaks and leading spaces non-breaking ones, so the layout of the
    text survives without turning indented lines into code blocks.
    """
    parts = []
    for token, changed in segments:
        if token.isspace():
            parts.append(token.replace(" ", "\u00a0") if "\n" in token else token)
            continue
        text = escape_markdown(token)
        parts.append(f":{color}-background[{text}]" if changed else text)
    return "".join(parts).replace("\n", "  \n")


_CODE = re.compile(r"(```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]*`)", re.DOTALL)


def item_markdown(text: str) -> str:
    """Item text for st.markdown, with `$` outside code escaped.

    Streamlit renders `$...$` as LaTeX, so two prices in a response ("$5 ... $10") would turn the
    text between them into a formula. Inside code spans and fenced blocks a backslash would show,
    and `$` is literal there anyway, so those parts are left alone.
    """
    parts = _CODE.split(text)
    return "".join(part if i % 2 else part.replace("$", r"\$") for i, part in enumerate(parts))
