"""Worst-case texts for the regular expressions the parser and derivation apply to filer-controlled text.

Each module-level pattern's alphabet (its words, digits and punctuation) is read from its own source, and every
token of it is repeated to the size asked for: the inputs that make a backtracking pattern quadratic are runs of
the pieces it can match partially. A new pattern added to one of these modules is covered without listing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import ModuleType

from streams.derive import codes, enrich, plans, prices, roles
from streams.parse import ownership, rendered, sgml, values

MODULES: tuple[ModuleType, ...] = (roles, plans, prices, enrich, codes, values, ownership, sgml, rendered)
# Patterns only ever applied anchored (match or fullmatch, on a bounded value or line): a run of partial
# matches costs them one pass, where an unanchored search would retry at every position.
# tests/test_adversarial.py checks that their modules use them no other way.
ANCHORED = frozenset(
    {
        "streams.parse.values._DECIMAL",
        "streams.parse.values._GROUPED",
        "streams.parse.values._DATE",
        "streams.parse.sgml._ACCESSION",
        "streams.parse.sgml._SPACE",
        "streams.parse.sgml._PEM_HEADER_LINE",
        "streams.parse.sgml._ROOT_ACCESSION",
    }
)
_ESCAPE = re.compile(r"\\[A-Za-z]|\(\?P<\w+>|\(\?P=\w+\)|\{\d*,?\d*\}")
_WORD = re.compile(r"[A-Za-z]+")
_PUNCTUATION = set(".,;:-$/%&'\"!?()[]<>=+*#@–—‐‑‒−")


def patterns() -> Iterator[tuple[str, re.Pattern[str] | re.Pattern[bytes]]]:
    """(module.name, pattern) for every compiled pattern at module level."""
    for module in MODULES:
        for name, value in sorted(vars(module).items()):
            if isinstance(value, re.Pattern):
                yield f"{module.__name__}.{name}", value
            elif isinstance(value, tuple):  # e.g. roles._EXECUTIVE_ROLES: (role, pattern) pairs
                for i, item in enumerate(value):
                    inner = item[1] if isinstance(item, tuple) and len(item) == 2 else item
                    if isinstance(inner, re.Pattern):
                        yield f"{module.__name__}.{name}[{i}]", inner


def alphabet(pattern: re.Pattern[str] | re.Pattern[bytes]) -> list[str]:
    """Tokens a pattern can partly match: its words (as written, capitalised, upper case, with a trailing
    space or period), its punctuation alone and before a space, digits, and whitespace."""
    source = pattern.pattern.decode("latin-1") if isinstance(pattern.pattern, bytes) else pattern.pattern
    plain = _ESCAPE.sub(" ", source)
    words = sorted(set(_WORD.findall(plain)))
    tokens: list[str] = [" ", "\n", "\t", "1", "12 ", "2024", "1.", ".1", "1,", "$1", "1 to ", "$1 - "]
    for word in words:
        tokens += [word, word.lower() + " ", word.capitalize() + ". ", word.upper() + " "]
    for char in sorted(set(plain) & _PUNCTUATION):
        tokens += [char, char + " ", "1" + char]
    return list(dict.fromkeys(tokens))


def repeated(token: str, size: int) -> str:
    return (token * (size // len(token) + 1))[:size]


def mixed(tokens: list[str], size: int) -> str:
    """The whole alphabet in turn: partial matches of every kind next to each other."""
    return repeated("".join(tokens), size)


def worst_cases(size: int) -> Iterator[tuple[str, str]]:
    """(label, text) for every pattern's tokens repeated to ``size`` characters, deduplicated across patterns."""
    seen: set[str] = set()
    for name, pattern in patterns():
        tokens = alphabet(pattern)
        for token in [*tokens, "\0mixed"]:
            text = mixed(tokens, size) if token == "\0mixed" else repeated(token, size)
            if text not in seen:
                seen.add(text)
                yield f"{name}: {token!r}", text
