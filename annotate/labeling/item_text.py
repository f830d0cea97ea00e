"""Untrusted item text (and names) made safe for an annotator's screen, as Streamlit markdown.

Item text comes from datasets and models. Streamlit renders it with HTML disabled, so tags stay
text; what markdown itself can still do is load remote content: `![x](https://host/p.png)` makes
every annotator's browser fetch the URL, which tells the item's author their IP address, the time
and what they were shown. So images become links (the URL stays visible and one click away), unless
the project lists the image's host in `allowed_image_hosts`; data URIs and same-server paths only
when `allow_embedded_images` is set. Links open in a new tab with rel="noopener noreferrer"
(Streamlit's markdown does that for every link; tests/test_label_screen_browser.py checks it).

Code spans and fenced blocks are left alone: markdown never loads anything from inside them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_CODE = re.compile(r"(```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]*`)", re.DOTALL)
# An inline image ![alt](url "title"), or the `!` of any other image syntax (![alt][ref], ![ref]).
_IMAGE = re.compile(r"!\[(?P<alt>[^\[\]\n]*)\]\(\s*<?(?P<url>[^\s()<>]*)>?(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)"
                    r"|!(?=\[)")
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'^%@/])")


@dataclass(frozen=True)
class ImagePolicy:
    """Which images in item text an annotator's browser may load.

    Attributes:
        allowed_hosts: hosts (lower case, exact match) whose https/http images are shown.
        allow_embedded: also show data: URIs and paths on the app's own server.
    """
    allowed_hosts: frozenset[str] = frozenset()
    allow_embedded: bool = False

    @classmethod
    def of(cls, config) -> "ImagePolicy":
        """The policy of a ProjectConfig (its allowed_image_hosts and allow_embedded_images)."""
        return cls(frozenset(h.lower() for h in config.allowed_image_hosts), config.allow_embedded_images)

    def allows(self, url: str) -> bool:
        """Whether an image at `url` may be loaded by the browser."""
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme in ("http", "https") and parts.hostname:
            return parts.hostname.lower() in self.allowed_hosts
        if scheme == "data":
            return self.allow_embedded and url.lower().startswith("data:image/")
        if not scheme and not parts.netloc:  # a path on the app's own server
            return self.allow_embedded and bool(parts.path)
        return False  # protocol-relative //host/x, javascript:, file:, ...


NO_IMAGES = ImagePolicy()


def item_markdown(text: str, images: ImagePolicy = NO_IMAGES) -> str:
    """Item text for st.markdown: images as links unless allowed, `$` outside code escaped.

    Streamlit renders `$...$` as LaTeX, so two prices in a response ("$5 ... $10") would turn the
    text between them into a formula; inside code a backslash would show, and `$` is literal there.
    """
    return escape_dollars(neutralize_images(text, images))


def neutralize_images(text: str, images: ImagePolicy = NO_IMAGES) -> str:
    """Turn images outside code into links (or a note for embedded data) unless `images` allows them."""
    parts = _CODE.split(text)
    return "".join(part if i % 2 else _IMAGE.sub(lambda m: _image_replacement(m, images), part)
                   for i, part in enumerate(parts))


def escape_dollars(text: str) -> str:
    """Escape `$` outside code spans and fenced blocks (Streamlit reads `$...$` as LaTeX)."""
    parts = _CODE.split(text)
    return "".join(part if i % 2 else part.replace("$", r"\$") for i, part in enumerate(parts))


def _image_replacement(match: re.Match, images: ImagePolicy) -> str:
    url = match.group("url")
    if url is None:  # the `!` of a reference image: escaped, the rest renders as a plain link
        return "\\!"
    if images.allows(url):
        return match.group(0)
    alt = match.group("alt").strip()
    label = f"image: {alt}" if alt else "image"
    if urlsplit(url).scheme.lower() in ("http", "https"):
        return f"[{label} (not loaded)]({url})"
    shown = url if len(url) <= 60 else url[:57] + "..."
    return f"({escape_markdown(label)}, not shown: `{shown.replace('`', '')}`)"


def escape_markdown(text: str) -> str:
    """Escape every markdown-special character so the text renders literally (names, labels)."""
    return _SPECIAL.sub(r"\\\1", text)
