"""Small helpers for grammatical messages: counts with the right plural, "a" / "an"."""

from __future__ import annotations

_IRREGULAR = {"nucleus": "nuclei"}


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``"1 nucleus"``, ``"2 nuclei"``, ``"1 image"``, ``"1,500 images"``: ``n`` with the right form."""
    if n == 1:
        return f"1 {singular}"
    return f"{n:,} {plural or _IRREGULAR.get(singular, singular + 's')}"


def a(word: str) -> str:
    """``word`` with its indefinite article by spelling: ``"an int"``, ``"a list"``."""
    return f"{'an' if word[:1].lower() in tuple('aeiou') else 'a'} {word}"
