"""Which TURN/STUN server product answers, from the SOFTWARE attribute it sends, so that a fix is
given in that product's words (its options, its API) and never in another product's.

Pure. SOFTWARE is free text that a server may leave out or set to anything: Pion's server
never sends it, node-turn only in Allocate, CreatePermission and Refresh successes, coturn in
every answer. Text that names no product here (or no SOFTWARE at all) gives None, and the fix
is given in generic words (``in_words_of``). A fix table is keyed by ``ProductName``; the
audit's is ``audit_fixes.FIXES``. The diagnosis tables say what to check as a ``Wording``:
generic words and each product's own, whole phrases that name the product.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ProductName = Literal["coturn", "pion", "node-turn"]


@dataclass(frozen=True)
class ServerProduct:
    name: ProductName
    title: str  # as its users write it, at the head of a fix in its words
    software: tuple[str, ...]  # lower-case beginnings of the SOFTWARE texts it sends


PRODUCTS: tuple[ServerProduct, ...] = (
    ServerProduct("coturn", "coturn", ("coturn",)),  # "Coturn-4.6.1 'Gorst'"
    # pion/turn sends no SOFTWARE of its own: only a server built on it that names itself is known.
    ServerProduct("pion", "Pion TURN", ("pion",)),
    ServerProduct("node-turn", "node-turn", ("node-turn",)),  # "node-turn", hard-coded
)


def recognise(software: str) -> ServerProduct | None:
    """The product a SOFTWARE text names, or None."""
    text = software.strip().lower()
    return next((product for product in PRODUCTS if text.startswith(product.software)), None)


def in_words_of(product: ServerProduct | None, words: Mapping[ProductName, str], generic: str) -> str:
    """The fix in the product's words when the table has them, else in generic words."""
    if product is not None and product.name in words:
        return f"{product.title}: {words[product.name]}"
    return generic


@dataclass(frozen=True)
class Wording:
    """What to check, in generic words (which name no product) and in the words of each product
    that has its own (a whole phrase naming the product and its options or API). Placeholders
    such as ``{relayed}`` are filled once the words are chosen."""

    generic: str
    words: Mapping[ProductName, str] = field(default_factory=dict)

    def said_for(self, product: ServerProduct | None) -> str:
        if product is not None and product.name in self.words:
            return self.words[product.name]
        return self.generic


class _Kept(dict[str, str]):
    """Format values that keep every placeholder they do not have, for a later fill."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def phrased(template: str, **parts: Wording) -> Wording:
    """A wording whose ``template`` is filled with parts that have words of their own: their
    generic words for the generic phrase, and for each product any part has words of, each
    part's words for that product (its generic ones where it has none)."""

    def filled(name: ProductName | None) -> str:
        chosen = {key: part.words.get(name, part.generic) if name else part.generic for key, part in parts.items()}
        return template.format_map(_Kept(chosen))

    named = [product.name for product in PRODUCTS if any(product.name in part.words for part in parts.values())]
    return Wording(filled(None), {name: filled(name) for name in named})
