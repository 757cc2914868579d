"""What a timeline page may be drawn with, and the markup a saved run anyone may have edited
could carry: the payload, every element and attribute the page itself writes (anything else
came from the input), and any value in any field of a record, for the fuzz tests."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

# Breaks out of text, of either quote and of a tag, and carries a script and a handler.
PAYLOAD = "\"'></title></text><script>document.title='pwned'</script><img src=x onerror=alert(1)>"
# Every element and attribute the page is drawn with: anything else came from the input.
PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "pre", "svg", "g", "line", "text",
             "circle", "rect", "path", "polyline", "table", "thead", "tbody", "tr", "th", "td", "span", "br", "details",
             "summary"}
PAGE_ATTRIBUTES = {"lang", "charset", "class", "width", "height", "role", "aria-label", "x", "y", "x1", "y1", "x2",
                   "y2", "cx", "cy", "r", "d", "text-anchor", "transform", "fill", "stroke", "stroke-dasharray",
                   "points", "data-url", "data-address", "data-method", "data-outcome", "data-attempt", "data-entry",
                   "data-name", "data-lost", "data-sent"}


class Markup(HTMLParser):
    """The elements and attribute names of a page, as a browser's tokenizer sees them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def assert_drawn_only_by_the_page(page: Path) -> None:
    markup = Markup(page.read_text(encoding="utf-8"))
    assert markup.tags <= PAGE_TAGS, markup.tags - PAGE_TAGS
    assert markup.attributes <= PAGE_ATTRIBUTES, markup.attributes - PAGE_ATTRIBUTES


def field_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path to every value inside a record: keys of dicts, indexes of lists."""
    items = list(value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else [])
    return [found for key, item in items for found in [(*path, key), *field_paths(item, (*path, key))]]


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    if isinstance(value, dict):
        return {**value, path[0]: replaced(value[path[0]], path[1:], new)}
    return [replaced(item, path[1:], new) if index == path[0] else item for index, item in enumerate(value)]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.just(PAYLOAD),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
