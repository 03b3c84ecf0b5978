"""HTML to paragraphs for the cleaning stage: wire fragments, whole web pages, and hostile markup.

Wire fragments go through selectolax (lexbor, iterative, no network, no external entities). Whole pages
go through main-content extraction first (``page.py``); what the extractors return is then walked
like a fragment, so lists, block quotes, tables and line breaks are flattened by one set of rules.
Lexbor slows down sharply on very deep trees and lxml silently gives up on them, so a cheap linear tag
scan measures the depth first; markup over the limit is refused by the caller instead of parsed.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Subtrees whose text is never story text: code, media, embeds, forms, and captions (furniture).
_DROP = frozenset(
    {
        "script",
        "style",
        "iframe",
        "embed",
        "object",
        "noscript",
        "img",
        "picture",
        "svg",
        "video",
        "audio",
        "canvas",
        "template",
        "head",
        "title",
        "meta",
        "link",
        "form",
        "button",
        "input",
        "select",
        "textarea",
        "figcaption",
        "nav",
        "graphic",
        "math",
        "map",
        "source",
        "track",
        "param",
    }
)
# Elements that start and end a paragraph. Includes trafilatura's XML vocabulary (head, item, quote, ...).
_BLOCK = frozenset(
    {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "blockquote",
        "pre",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "aside",
        "address",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "caption",
        "figure",
        "hr",
        "details",
        "summary",
        "center",
        "body",
        "html",
        "doc",
        "head",
        "item",
        "list",
        "quote",
        "row",
        "fieldset",
        "legend",
    }
)
_CELL = frozenset({"td", "th", "cell"})
_BREAK = frozenset({"br", "lb"})
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "keygen",
        "lb",
        "graphic",
    }
)
# Start tags that close an open element of the same name (so sloppy "<p>a<p>b" does not look deep).
_SELF_CLOSING_SIBLINGS = frozenset({"p", "li", "td", "th", "tr", "option", "dt", "dd"})

CELL_SEPARATOR = " | "

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:_-]*)([^>]*)>|<!--.*?(?:-->|\Z)", re.DOTALL)
_PAGE_MARK = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)


def is_whole_page(markup: str) -> bool:
    """A whole web document (doctype/html/head/body) rather than a wire body fragment."""
    return _PAGE_MARK.search(markup[:20_000]) is not None


# An attribute name starts after white space; possessive quantifiers keep the scan linear on long values.
_ATTRIBUTE = re.compile(r"\s[^\s=<>/\"']++\s*+=")
_ATTRIBUTE_MIN_CHARS = 3  # white space, one name character, "=": the shortest text _ATTRIBUTE counts


def scan_markup(markup: str, *, stop_depth: int, attribute_limit: int) -> tuple[int, int]:
    """(approximate nesting depth, attributes of the element that has the most) in one linear scan.

    The scan stops once the depth passes ``stop_depth``. Attributes are counted only on elements whose
    attribute text is long enough to hold more than ``attribute_limit`` of them, so the count is exact
    whenever it passes that limit and may be lower otherwise.
    """
    # findall builds the (slash, name, attributes) tuples in C; the per-tag Python work stays small,
    # which matters for markup floods of tens of thousands of tags (one pass instead of two).
    shortest = (attribute_limit + 1) * _ATTRIBUTE_MIN_CHARS
    stack: list[str] = []
    deepest = most = 0
    for slash, raw_name, attrs in _TAG.findall(markup):
        if not raw_name:
            continue
        if len(attrs) >= shortest:
            most = max(most, len(_ATTRIBUTE.findall(attrs)))
        name = raw_name.lower()
        if slash:
            # Pop back to the matching open element if it is near the top; stray end tags are ignored.
            for back in range(len(stack) - 1, max(len(stack) - 8, -1), -1):
                if stack[back] == name:
                    del stack[back:]
                    break
            continue
        if name in _VOID or attrs.rstrip().endswith("/"):
            continue
        if name in _SELF_CLOSING_SIBLINGS and stack and stack[-1] == name:
            stack.pop()
        stack.append(name)
        if len(stack) > deepest:
            deepest = len(stack)
            if deepest > stop_depth:
                break
    return deepest, most


class _Paragraphs:
    """Collects inline text into paragraphs; block boundaries flush, cells and breaks separate."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self._buf: list[str] = []
        self._cells: list[str] | None = None

    def text(self, value: str) -> None:
        self._buf.append(value)

    def flush(self) -> None:
        para = " ".join("".join(self._buf).split())
        self._buf.clear()
        if not para:
            return
        if self._cells is not None:
            self._cells.append(para)
        else:
            self.out.append(para)

    def start_row(self) -> None:
        self.flush()
        self._cells = []

    def end_row(self) -> None:
        self.flush()
        cells, self._cells = self._cells, None
        if cells:
            self.out.append(CELL_SEPARATOR.join(cells))


def fragment_paragraphs(markup: str, *, stop_after: int | None = None) -> list[str]:
    """Paragraph texts of an HTML fragment (or trafilatura XML), whitespace collapsed, entities decoded.

    With ``stop_after``, the walk stops once it holds more paragraphs than that (a flood is refused
    by its caller, so walking the rest of it is wasted work)."""
    tree = LexborHTMLParser(markup)
    root = tree.root
    if root is None:
        return []
    acc = _Paragraphs()
    # Iterative walk: (node, leaving) pairs on an explicit stack, never Python recursion.
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    while stack:
        if stop_after is not None and len(acc.out) > stop_after:
            return acc.out
        node, leaving = stack.pop()
        tag = node.tag or ""
        if leaving:
            if tag in ("tr", "row"):
                acc.end_row()
            elif tag in _BLOCK or tag in _CELL:
                acc.flush()
            continue
        if tag == "-text":
            acc.text(node.text_content or "")
            continue
        if tag in _DROP or tag.startswith(("_", "!")):
            continue
        if tag in _BREAK:
            acc.flush()
            continue
        if tag in ("tr", "row"):
            acc.start_row()
        elif tag in _BLOCK or tag in _CELL:
            acc.flush()
        stack.append((node, True))
        children = list(node.iter(include_text=True))
        stack.extend((child, False) for child in reversed(children))
    acc.flush()
    acc.end_row()
    return acc.out
