"""A tiny document model rendered twice from the same blocks: ``report.md`` (figures linked by relative path)
and ``report.html`` (figures embedded as base64, so the one file opens anywhere without a server)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Text:
    """A paragraph; `backticks` become code spans."""

    text: str


@dataclass
class Bullets:
    """A bulleted list."""

    items: list[str]


@dataclass
class Table:
    """A table of already-formatted cells."""

    header: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    """A PNG under the report folder (``path`` is relative to it)."""

    path: str
    caption: str


@dataclass
class Gallery:
    """Images shown side by side in HTML (one after the other in Markdown)."""

    images: list[Image]


@dataclass
class Code:
    """A preformatted block (a config): shown folded in HTML; linked (``link``) or inlined in Markdown."""

    text: str
    summary: str
    link: str | None = None


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)


@dataclass
class Document:
    title: str
    intro: list = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


# ----- Markdown ------------------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_block(block) -> str:
    if isinstance(block, Text):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        lines = ["| " + " | ".join(map(_md_cell, block.header)) + " |",
                 "|" + "|".join("---" for _ in block.header) + "|"]
        lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Image):
        alt = block.caption.replace("[", "\\[").replace("]", "\\]")
        return f"![{alt}]({block.path})\n\n*{block.caption}*"
    if isinstance(block, Gallery):
        return "\n\n".join(_md_block(image) for image in block.images)
    if isinstance(block, Code):
        if block.link:
            return f"- {block.summary}: [{block.link}]({block.link})"
        return f"{block.summary}:\n\n```\n{block.text}\n```"
    raise TypeError(f"unknown block {block!r}")


def to_markdown(doc: Document) -> str:
    """The document as GitHub-flavoured Markdown."""
    parts = [f"# {doc.title}", *map(_md_block, doc.intro)]
    for section in doc.sections:
        parts.append(f"## {section.title}")
        parts += [_md_block(b) for b in section.blocks]
    return "\n\n".join(parts) + "\n"


# ----- HTML ----------------------------------------------------------------------------------------------
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #555; max-width: 900px; }
img { max-width: 100%; image-rendering: pixelated; border: 1px solid #eee; }
.gallery { display: flex; flex-wrap: wrap; gap: 1em; } .gallery figure { flex: 1 1 30%; max-width: 32%; }
code, pre { background: #f6f6f6; } pre { padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
"""


def _inline(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _html_block(block, root: Path) -> str:
    if isinstance(block, Text):
        return f"<p>{_inline(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{_inline(h)}</th>" for h in block.header)
        body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Image):
        data = base64.b64encode((root / block.path).read_bytes()).decode("ascii")
        return (f'<figure><img alt="{html.escape(block.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_inline(block.caption)}</figcaption></figure>")
    if isinstance(block, Gallery):
        return '<div class="gallery">' + "".join(_html_block(image, root) for image in block.images) + "</div>"
    if isinstance(block, Code):
        return f"<details><summary>{_inline(block.summary)}</summary><pre>{html.escape(block.text)}</pre></details>"
    raise TypeError(f"unknown block {block!r}")


def to_html(doc: Document, root: str | Path) -> str:
    """The document as one self-contained HTML page; images are read from ``root`` and embedded."""
    root = Path(root)
    parts = [f"<h1>{_inline(doc.title)}</h1>", *(_html_block(b, root) for b in doc.intro)]
    for section in doc.sections:
        anchor = re.sub(r"[^a-z0-9]+", "-", section.title.lower()).strip("-")
        parts.append(f'<h2 id="{anchor}">{_inline(section.title)}</h2>')
        parts += [_html_block(b, root) for b in section.blocks]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(doc.title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
