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
from functools import lru_cache

from streams.derive import FREE_TEXT_CAP
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
# "See Remarks", "see explanation of responses": "see" and, later on the same line, remark(s)/explanation. Two
# searches rather than one "see.*remarks" pattern, whose backtracking is quadratic in a title of repeated "see ".
_SEE = re.compile(r"\bsee\b", re.IGNORECASE)
_REMARKS_WORD = re.compile(r"\b(?:remarks?|explanation)", re.IGNORECASE)
# Titles are at most 30 characters in EDGAR's form; only this much of a title (or of remarks) is analysed.
TITLE_CAP = 256
REMARKS_CAP = FREE_TEXT_CAP
_REMARKS_TITLE = re.compile(r"\btitle\s*[:\-–]\s*([^\n;]+)", re.IGNORECASE)
_SEPARATORS = re.compile(r"[^\w]+")


def _normalize(title: str) -> str:
    """Lower case, '&' as 'and', every run of punctuation or space as one space: "Sr. V.P." -> "sr v p"."""
    return _SEPARATORS.sub(" ", title.lower().replace("&", " and ")).strip()


def _says_see_remarks(title: str) -> bool:
    for line in title.split("\n"):  # as "." in a pattern: lines end at \n only
        see = _SEE.search(line)
        if see is not None and _REMARKS_WORD.search(line, see.end()) is not None:
            return True
    return False


@lru_cache(maxsize=64)  # one filing's owners share its remarks: read them once, not once per owner
def _title_from_remarks(remarks: str) -> str:
    """The part after "Title:" when the remarks have one, else the remarks (their first REMARKS_CAP characters)."""
    head = remarks[:REMARKS_CAP]
    found = _REMARKS_TITLE.search(head)
    return found.group(1) if found else head


def _effective_title(officer_title: str | None, remarks: str | None) -> tuple[str, bool]:
    """The text to match and whether it came from a real (non-placeholder) title.

    Only the first TITLE_CAP characters of a title and REMARKS_CAP of the remarks are read, so the work per
    owner is bounded whatever a filer puts there.
    """
    title = (officer_title or "")[:TITLE_CAP].strip()
    if not _says_see_remarks(title):
        return title, bool(title)
    if not remarks:
        return "", False
    return _title_from_remarks(remarks), False


@lru_cache(maxsize=256)  # joint filers and repeated owners share titles
def _title_roles(raw: str) -> tuple[frozenset[Role], bool]:
    """The executive and chair roles a title names, and whether it names only board or ownership roles."""
    title = _normalize(raw)
    found = {role for role, pattern in _EXECUTIVE_ROLES if pattern.search(title)}
    if _CHAIR.search(title):
        found.add(Role.CHAIR)
    return frozenset(found), set(title.split()) <= _BOARD_WORDS


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
    named, board_only = _title_roles(raw)
    found = set(named)
    if not (found - {Role.CHAIR}) and (is_officer or (real_title and not board_only)):
        found.add(Role.OTHER_OFFICER)
    for flag, role in (
        (is_director, Role.DIRECTOR),
        (is_ten_percent_owner, Role.TEN_PERCENT_OWNER),
        (is_other, Role.OTHER),
    ):
        if flag:
            found.add(role)
    return [role for role in Role if role in found]
