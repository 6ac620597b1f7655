"""EDGAR daily/full indexes (``form.idx``, ``company.idx``, ``master.idx``), parsed without network.

``Key: value`` lines, a column header (sometimes wrapped onto two lines), a dashed separator, then one line per
(filing, CIK). ``master.idx`` is ``CIK|Company Name|Form Type|Date Filed|File Name``; form/company are fixed
width but drift (long names push into the CIK column, newer files widen the form column), so CIK, date and file
name are read from the right and only the form/company split uses the header. Dedupe on accession (§9.2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from streams.ingest.feed import OWNERSHIP_FORMS, normalize_accession

_SEPARATOR = re.compile(r"^-{20,}\s*$")
#: The right-hand columns of a fixed-width line: CIK, date filed and file name (greedy rest: the last match).
_FIXED_TAIL = re.compile(
    r"^(?P<rest>.*\S)\s+(?P<cik>\d{1,10})\s+(?P<date>\d{4}-\d{2}-\d{2}|\d{8})\s+(?P<file>\S+)\s*$"
)
_HEAD_FORM = re.compile(r"^(\S+(?: \S+)*)(?:\s{2,}(.*))?$")  # a form type has single spaces at most
_TAIL_FORM = re.compile(r"^(.*\S)\s{2,}(\S+(?: \S+)*)$")
_FILE_ACCESSION = re.compile(r"(\d{10}-?\d{2}-?\d{6})(?:\.\w+)?$")


class IndexFormatError(ValueError):
    """The body is not an EDGAR index (no column header and separator: an HTML error page, a truncated body)."""


@dataclass(frozen=True, slots=True)
class IndexEntry:
    form_type: str
    company_name: str
    cik: str
    date_filed: date
    file_name: str
    accession_number: str


@dataclass(frozen=True, slots=True)
class IndexListing:
    entries: list[IndexEntry]
    skipped: int


def _parse_date(text: str) -> date | None:
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return date.fromisoformat(text)
    except ValueError:
        return None


def _split_form_first(rest: str, name_col: int) -> tuple[str, str]:
    """``FORM  COMPANY`` (form.idx). A form type that fills its column leaves one space before the name, so the
    header's column position settles that case."""
    m = _HEAD_FORM.match(rest)
    if m and len(m[1]) < name_col - 1:
        return m[1], (m[2] or "").strip()
    if 0 < name_col < len(rest) and rest[name_col - 1] == " " and rest[:name_col].strip():
        return rest[:name_col].strip(), rest[name_col:].strip()
    if m:
        return m[1], (m[2] or "").strip()
    return rest.strip(), ""


def _split_form_last(rest: str, form_col: int) -> tuple[str, str]:
    """``COMPANY  FORM`` (company.idx): the header's column when the name stays inside its own, else the last
    run of two or more spaces."""
    if 0 < form_col < len(rest) and rest[form_col - 1] == " " and rest[form_col] != " ":
        form = rest[form_col:].strip()
        if form and "  " not in form and rest[:form_col].strip():
            return form, rest[:form_col].strip()
    m = _TAIL_FORM.match(rest)
    if m:
        return m[2], m[1].strip()
    name, _, form = rest.rpartition(" ")
    return form, name.strip()


def _entry(form: str, name: str, cik: str, filed: str, file_name: str) -> IndexEntry | None:
    filed_date = _parse_date(filed.strip())
    file_name = file_name.strip()
    m = _FILE_ACCESSION.search(file_name)
    accession = normalize_accession(m[1]) if m else None
    cik = cik.strip()
    if filed_date is None or accession is None or not cik.isdigit() or len(cik) > 10 or not form.strip():
        return None
    return IndexEntry(
        form_type=form.strip(),
        company_name=name.strip(),
        cik=cik.zfill(10),
        date_filed=filed_date,
        file_name=file_name,
        accession_number=accession,
    )


def _header(lines: list[str]) -> tuple[int, str, str]:
    """(index of the first data line, layout, first header line); raises IndexFormatError."""
    for i, line in enumerate(lines):
        if not _SEPARATOR.match(line):
            continue
        header: list[str] = []
        for previous in reversed(lines[:i]):
            if not previous.strip():
                break
            header.insert(0, previous)
        text = " ".join(header)
        if not header or "CIK" not in text or "Form Type" not in text or "Company Name" not in text:
            break
        if "File Name" not in text and "Filename" not in text:
            break
        first = header[0]
        if "|" in first:
            return i + 1, "master", first
        if first.lstrip().startswith("Form Type"):
            return i + 1, "form", first
        if first.lstrip().startswith("Company Name"):
            return i + 1, "company", first
        break
    raise IndexFormatError("no EDGAR index header (column names followed by a dashed line)")


def parse_index(data: bytes) -> IndexListing:
    """Every (filing, CIK) line of a form/company/master index, in file order; unreadable lines are counted."""
    lines = bytes(data).decode("latin-1").splitlines()
    start, layout, header = _header(lines)
    name_col = header.find("Company Name")
    form_col = header.find("Form Type")
    entries: list[IndexEntry] = []
    skipped = 0
    for line in lines[start:]:
        if not line.strip():
            continue
        entry: IndexEntry | None = None
        if layout == "master":
            fields = line.split("|")
            if len(fields) >= 5:  # a "|" inside a company name only adds fields in the middle
                entry = _entry(fields[-3], "|".join(fields[1:-3]), fields[0], fields[-2], fields[-1])
        elif m := _FIXED_TAIL.match(line):
            if layout == "form":
                form, name = _split_form_first(m["rest"], name_col)
            else:
                form, name = _split_form_last(m["rest"], form_col)
            entry = _entry(form, name, m["cik"], m["date"], m["file"])
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    return IndexListing(entries=entries, skipped=skipped)


def daily_index_url(base_url: str, day: date, kind: str = "form") -> str:
    """The daily index of one kind (form, master, company) for one day; only business days have one."""
    quarter = (day.month - 1) // 3 + 1
    return (
        f"{base_url.rstrip('/')}/Archives/edgar/daily-index/{day.year}/QTR{quarter}/{kind}.{day:%Y%m%d}.idx"
    )


def archive_url(base_url: str, file_name: str) -> str:
    """The archive URL of an index ``File Name`` (``edgar/data/<cik>/<accession>.txt``)."""
    return f"{base_url.rstrip('/')}/Archives/{file_name.lstrip('/')}"


def ownership_index_entries(entries: Iterable[IndexEntry]) -> list[IndexEntry]:
    """Exact Forms 3/4/5 (and amendments), one entry per accession (the first listed), order kept."""
    seen: set[str] = set()
    kept: list[IndexEntry] = []
    for entry in entries:
        if entry.form_type.strip().upper() in OWNERSHIP_FORMS and entry.accession_number not in seen:
            seen.add(entry.accession_number)
            kept.append(entry)
    return kept
