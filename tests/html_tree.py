"""A small element tree of an HTML page, for tests, with the end tags that do not close the open element."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = {"meta", "link", "br", "hr", "img", "input", "wbr", "source"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        """The text of the element and its descendants, entities decoded (what stripping the tags gives)."""
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def iter(self) -> Iterator[Element]:
        """This element and every element under it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str, css_class: str | None = None) -> list[Element]:
        return [e for e in self.iter() if e.tag == tag and (css_class is None or css_class in e.classes)]

    def find(self, tag: str, css_class: str | None = None) -> Element:
        found = self.find_all(tag, css_class)
        assert found, f"no <{tag} class={css_class!r}> in the page"
        return found[0]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.misnested: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        if self.stack[-1].tag == tag:
            self.stack.pop()
        else:
            self.misnested.append(f"</{tag}> while <{self.stack[-1].tag}> is open")

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(page: str) -> tuple[Element, list[str]]:
    """The page's tree and its nesting faults (end tags that do not match, elements left open)."""
    builder = _TreeBuilder()
    builder.feed(page)
    builder.close()
    left_open = [f"<{element.tag}> never closed" for element in builder.stack[1:]]
    return builder.root, builder.misnested + left_open
