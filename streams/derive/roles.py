"""Normalized insider roles from the relationship flags and the free-text officer title (max 30 characters).

Titles are abbreviated and truncated ("SVP, GC and Government Affairs", "Pres, Prod Architect & Chairmn"), so
matching works on a lower-cased title with punctuation turned into spaces, against a few word-bounded regexes.

Decisions:
- A title qualified by vice/deputy/assistant/associate is not the role: "Vice President" is not PRESIDENT,
  "Deputy General Counsel" is not GENERAL_COUNSEL, and "Vice Chairman" (also "Exec. Vice Chairman") is not
  CHAIR: the vice chair does not chair the board, as a vice president does not run the company.
- CHAIR is a board role, not an executive one: an officer whose title only names the chair gets CHAIR and
  OTHER_OFFICER ("Executive Chairman"); a non-officer titled "Chairman of the Board" gets CHAIR only.
- A title alone (without the officer flag) makes an officer, unless it only names a board or ownership role
  ("Director", "10% Owner", "Vice Chairman"), so a non-officer vice chair gets no officer role.
- Only the flags give DIRECTOR, TEN_PERCENT_OWNER and OTHER: ``other_text`` such as "Former 10% Owner" is
  description, not a role.
- A "See Remarks" title is replaced by the remarks, or by the part after "Title:" when the remarks have one.
"""

from __future__ import annotations

import re

from streams.models import Role

# Lookbehinds for qualifiers that make a title a lesser one ("vice president", "deputy cfo").
_QUALIFIERS = ("vice", "deputy", "assistant", "asst", "associate", "assoc", "vice executive", "vice exec")
_UNQUALIFIED = "".join(f"(?<!{q} )" for q in _QUALIFIERS)

_EXECUTIVE_ROLES: tuple[tuple[Role, re.Pattern[str]], ...] = tuple(
    (role, re.compile(rf"{_UNQUALIFIED}\b(?:{pattern})\b"))
    for role, pattern in (
        (Role.CEO, r"chief exec\w*|ceo|principal exec\w*"),
        (Role.CFO, r"chief fin\w*|cfo|principal fin\w*"),
        (Role.COO, r"chief operat\w*|coo"),
        (Role.PRESIDENT, r"pres|president"),
        (Role.GENERAL_COUNSEL, r"gen\w* counsel|gc|chief legal\w*|clo"),
    )
)
_CHAIR = re.compile(rf"{_UNQUALIFIED}\b(?:chair\w*|cob)\b")
# A title made only of these words names a board or ownership role, not an office ("Chairman of the Board").
_BOARD_WORDS = frozenset(
    {"director", "directors", "independent", "lead", "board", "member", "of", "the", "and", "vice", "chair"}
    | {"chairman", "chairwoman", "chairperson", "cob", "10", "ten", "percent", "owner", "trustee"}
    | {"none", "n", "a", "na"}
)
_SEE_REMARKS = re.compile(r"\bsee\b.*\b(?:remarks?|explanation)", re.IGNORECASE)
_REMARKS_TITLE = re.compile(r"\btitle\s*[:\-–]\s*([^\n;]+)", re.IGNORECASE)
_SEPARATORS = re.compile(r"[^\w]+")


def _normalize(title: str) -> str:
    """Lower case, '&' as 'and', every run of punctuation or space as one space: "Sr. V.P." -> "sr v p"."""
    return _SEPARATORS.sub(" ", title.lower().replace("&", " and ")).strip()


def _effective_title(officer_title: str | None, remarks: str | None) -> tuple[str, bool]:
    """The text to match and whether it came from a real (non-placeholder) title."""
    title = (officer_title or "").strip()
    if not _SEE_REMARKS.search(title):
        return title, bool(title)
    if not remarks:
        return "", False
    found = _REMARKS_TITLE.search(remarks)
    return (found.group(1) if found else remarks), False


def normalize_roles(
    *,
    is_director: bool,
    is_officer: bool,
    is_ten_percent_owner: bool,
    is_other: bool,
    officer_title: str | None,
    other_text: str | None,
    remarks: str | None = None,
) -> list[Role]:
    """Roles in ``Role`` declaration order, no duplicates. ``other_text`` never adds a role (see module)."""
    del other_text  # accepted for the caller's convenience; deliberately not a source of roles
    raw, real_title = _effective_title(officer_title, remarks)
    title = _normalize(raw)
    found = {role for role, pattern in _EXECUTIVE_ROLES if pattern.search(title)}
    if _CHAIR.search(title):
        found.add(Role.CHAIR)
    titled_officer = real_title and not set(title.split()) <= _BOARD_WORDS
    if not (found - {Role.CHAIR}) and (is_officer or titled_officer):
        found.add(Role.OTHER_OFFICER)
    for flag, role in (
        (is_director, Role.DIRECTOR),
        (is_ten_percent_owner, Role.TEN_PERCENT_OWNER),
        (is_other, Role.OTHER),
    ):
        if flag:
            found.add(role)
    return [role for role in Role if role in found]
