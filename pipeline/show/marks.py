"""Text with overlapping highlighted spans as properly nested HTML: every character once, in order."""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mark:
    """A half-open range ``[start, end)`` of the text to wrap in ``element``.

    Marks may overlap in any way: where one crosses another's boundary it is closed and opened again
    (a fragment), so the HTML stays nested. ``label`` goes into ``data-label`` of one fragment only (the
    stylesheet shows it): the last, as displaCy puts an entity's label after its text, or with
    ``label_first`` the first, as a quote's tag. ``block`` marks (paragraphs) are always outermost;
    they must not overlap one another. Of marks with the same extent, the lower ``rank`` is outer.
    """

    start: int
    end: int
    element: str = "mark"
    attrs: Mapping[str, str] = field(default_factory=dict)
    label: str | None = None
    label_first: bool = False
    block: bool = False
    rank: int = 0


@dataclass
class _Fragment:
    mark: Mark
    start: int
    end: int = -1

    def open_tag(self) -> str:
        mark = self.mark
        attrs = dict(mark.attrs)
        shows_label = self.start == mark.start if mark.label_first else self.end == mark.end
        if mark.label is not None and shows_label:
            attrs["data-label"] = mark.label
        rendered = "".join(f' {name}="{html.escape(value)}"' for name, value in attrs.items())
        return f"<{mark.element}{rendered}>"


def render_marked(text: str, marks: Sequence[Mark]) -> str:
    """``text`` HTML-escaped, with ``marks`` as nested elements; marks outside the text or empty are left out.

    Stripping the tags and unescaping the result gives back ``text`` exactly.
    """
    usable = [(i, m) for i, m in enumerate(marks) if 0 <= m.start < m.end <= len(text)]
    starting: dict[int, list[tuple[int, Mark]]] = {}
    for item in usable:
        starting.setdefault(item[1].start, []).append(item)
    bounds = sorted({0, len(text)} | {m.start for _, m in usable} | {m.end for _, m in usable})

    def outer_first(item: tuple[int, Mark]) -> tuple[bool, int, int, int, int]:
        index, mark = item
        return (not mark.block, mark.start, -mark.end, mark.rank, index)

    parts: list[str | _Fragment] = []
    active: list[tuple[int, Mark]] = []
    stack: list[tuple[int, _Fragment]] = []
    for start, end in itertools.pairwise(bounds):
        still_open = [item for item in active if item[1].end > start]
        active = sorted(still_open + starting.get(start, []), key=outer_first)
        kept = 0
        while kept < min(len(stack), len(active)) and stack[kept][0] == active[kept][0]:
            kept += 1
        _close(parts, stack, kept, start)
        for index, mark in active[kept:]:
            fragment = _Fragment(mark, start)
            stack.append((index, fragment))
            parts.append(fragment)
        parts.append(html.escape(text[start:end]))
    _close(parts, stack, 0, len(text))
    return "".join(part if isinstance(part, str) else part.open_tag() for part in parts)


def _close(parts: list[str | _Fragment], stack: list[tuple[int, _Fragment]], keep: int, at: int) -> None:
    """Close the fragments above ``keep`` on the stack, innermost first, at offset ``at``."""
    while len(stack) > keep:
        _, fragment = stack.pop()
        fragment.end = at
        parts.append(f"</{fragment.mark.element}>")
