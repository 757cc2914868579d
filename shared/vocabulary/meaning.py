"""What a name of the vocabulary means, in words, for ``icegather explain``: each table of
names (failure causes, relay outcomes, server notes) keeps its meanings beside its names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Meaning:
    says: str  # what happened, in words
    # What to do, where no diagnosis table says it ("": a diagnosis cause or rule does).
    advice: str = ""
