"""Form 3/4/5 data sets in the SEC's format, built from parsed filings: the tests' stand-in for the quarterly
``YYYYqN_form345.zip`` files (``form4 ingest datasets``).

Every table and column of the SEC's ``FORM_345_metadata.json`` (``COLUMNS``, checked against the copy in
``../shared/docs`` when it is there), tab-separated, UTF-8, one header line; dates ``DD-MON-YYYY``; CIKs
without leading zeros, as the SEC writes them; booleans ``0``/``1``; footnote ids of a field comma-separated
in its ``_FN`` column. Filings without an accession number (bare XML) get one made up from their hash, and
those without a filing date (bare XML) are given their period of report, which is what the parser judges
their trade dates by too.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

from streams.models import Filing, Holding, Transaction

DOCS = Path(__file__).resolve().parents[2] / "shared" / "docs" / "sec-form345-datasets"

COLUMNS: dict[str, tuple[str, ...]] = {
    "SUBMISSION.tsv": (
        "ACCESSION_NUMBER", "FILING_DATE", "PERIOD_OF_REPORT", "DATE_OF_ORIG_SUB", "NO_SECURITIES_OWNED",
        "NOT_SUBJECT_SEC16", "FORM3_HOLDINGS_REPORTED", "FORM4_TRANS_REPORTED", "DOCUMENT_TYPE", "ISSUERCIK",
        "ISSUERNAME", "ISSUERTRADINGSYMBOL", "CONTACT_NAME", "CONTACT_PHONE_NUMBER", "CONTACT_EMAIL_ADDRESS",
        "NOTIFICATION_EMAIL_ADDRESS", "REMARKS",
    ),
    "REPORTINGOWNER.tsv": (
        "ACCESSION_NUMBER", "RPTOWNERCIK", "RPTOWNERNAME", "RPTOWNER_RELATIONSHIP", "RPTOWNER_TITLE",
        "RPTOWNER_TXT", "RPTOWNER_STREET1", "RPTOWNER_STREET2", "RPTOWNER_CITY", "RPTOWNER_STATE",
        "RPTOWNER_ZIPCODE", "RPTOWNER_STATE_DESC", "FILE_NUMBER",
    ),
    "NONDERIV_TRANS.tsv": (
        "ACCESSION_NUMBER", "NONDERIV_TRANS_SK", "SECURITY_TITLE", "SECURITY_TITLE_FN", "TRANS_DATE",
        "TRANS_DATE_FN", "DEEMED_EXECUTION_DATE", "DEEMED_EXECUTION_DATE_FN", "TRANS_FORM_TYPE", "TRANS_CODE",
        "EQUITY_SWAP_INVOLVED", "EQUITY_SWAP_INVOLVED_FN", "TRANS_TIMELINESS", "TRANS_TIMELINESS_FN",
        "TRANS_SHARES", "TRANS_SHARES_FN", "TRANS_PRICEPERSHARE", "TRANS_PRICEPERSHARE_FN",
        "TRANS_ACQUIRED_DISP_CD", "TRANS_ACQUIRED_DISP_CD_FN", "SHRS_OWND_FOLWNG_TRANS",
        "SHRS_OWND_FOLWNG_TRANS_FN", "VALU_OWND_FOLWNG_TRANS", "VALU_OWND_FOLWNG_TRANS_FN",
        "DIRECT_INDIRECT_OWNERSHIP", "DIRECT_INDIRECT_OWNERSHIP_FN", "NATURE_OF_OWNERSHIP",
        "NATURE_OF_OWNERSHIP_FN",
    ),
    "NONDERIV_HOLDING.tsv": (
        "ACCESSION_NUMBER", "NONDERIV_HOLDING_SK", "SECURITY_TITLE", "SECURITY_TITLE_FN", "TRANS_FORM_TYPE",
        "TRANS_FORM_TYPE_FN", "SHRS_OWND_FOLWNG_TRANS", "SHRS_OWND_FOLWNG_TRANS_FN", "VALU_OWND_FOLWNG_TRANS",
        "VALU_OWND_FOLWNG_TRANS_FN", "DIRECT_INDIRECT_OWNERSHIP", "DIRECT_INDIRECT_OWNERSHIP_FN",
        "NATURE_OF_OWNERSHIP", "NATURE_OF_OWNERSHIP_FN",
    ),
    "DERIV_TRANS.tsv": (
        "ACCESSION_NUMBER", "DERIV_TRANS_SK", "SECURITY_TITLE", "SECURITY_TITLE_FN", "CONV_EXERCISE_PRICE",
        "CONV_EXERCISE_PRICE_FN", "TRANS_DATE", "TRANS_DATE_FN", "DEEMED_EXECUTION_DATE",
        "DEEMED_EXECUTION_DATE_FN", "TRANS_FORM_TYPE", "TRANS_CODE", "EQUITY_SWAP_INVOLVED",
        "EQUITY_SWAP_INVOLVED_FN", "TRANS_TIMELINESS", "TRANS_TIMELINESS_FN", "TRANS_SHARES", "TRANS_SHARES_FN",
        "TRANS_TOTAL_VALUE", "TRANS_TOTAL_VALUE_FN", "TRANS_PRICEPERSHARE", "TRANS_PRICEPERSHARE_FN",
        "TRANS_ACQUIRED_DISP_CD", "TRANS_ACQUIRED_DISP_CD_FN", "EXCERCISE_DATE", "EXCERCISE_DATE_FN",
        "EXPIRATION_DATE", "EXPIRATION_DATE_FN", "UNDLYNG_SEC_TITLE", "UNDLYNG_SEC_TITLE_FN",
        "UNDLYNG_SEC_SHARES", "UNDLYNG_SEC_SHARES_FN", "UNDLYNG_SEC_VALUE", "UNDLYNG_SEC_VALUE_FN",
        "SHRS_OWND_FOLWNG_TRANS", "SHRS_OWND_FOLWNG_TRANS_FN", "VALU_OWND_FOLWNG_TRANS",
        "VALU_OWND_FOLWNG_TRANS_FN", "DIRECT_INDIRECT_OWNERSHIP", "DIRECT_INDIRECT_OWNERSHIP_FN",
        "NATURE_OF_OWNERSHIP", "NATURE_OF_OWNERSHIP_FN",
    ),
    "DERIV_HOLDING.tsv": (
        "ACCESSION_NUMBER", "DERIV_HOLDING_SK", "SECURITY_TITLE", "SECURITY_TITLE_FN", "CONV_EXERCISE_PRICE",
        "CONV_EXERCISE_PRICE_FN", "TRANS_FORM_TYPE", "TRANS_FORM_TYPE_FN", "EXERCISE_DATE", "EXERCISE_DATE_FN",
        "EXPIRATION_DATE", "EXPIRATION_DATE_FN", "UNDLYNG_SEC_TITLE", "UNDLYNG_SEC_TITLE_FN",
        "UNDLYNG_SEC_SHARES", "UNDLYNG_SEC_SHARES_FN", "UNDLYNG_SEC_VALUE", "UNDLYNG_SEC_VALUE_FN",
        "SHRS_OWND_FOLWNG_TRANS", "SHRS_OWND_FOLWNG_TRANS_FN", "VALU_OWND_FOLWNG_TRANS",
        "VALU_OWND_FOLWNG_TRANS_FN", "DIRECT_INDIRECT_OWNERSHIP", "DIRECT_INDIRECT_OWNERSHIP_FN",
        "NATURE_OF_OWNERSHIP", "NATURE_OF_OWNERSHIP_FN",
    ),
    "FOOTNOTES.tsv": ("ACCESSION_NUMBER", "FOOTNOTE_ID", "FOOTNOTE_TXT"),
    "OWNER_SIGNATURE.tsv": ("ACCESSION_NUMBER", "OWNERSIGNATURENAME", "OWNERSIGNATUREDATE"),
}  # fmt: skip

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
#: A row's field -> its column in the transaction and holding tables (the _FN column is the name + "_FN").
ROW_COLUMNS = {
    "security_title": "SECURITY_TITLE",
    "transaction_date": "TRANS_DATE",
    "deemed_execution_date": "DEEMED_EXECUTION_DATE",
    "transaction_form_type": "TRANS_FORM_TYPE",
    "transaction_code": "TRANS_CODE",
    "equity_swap_involved": "EQUITY_SWAP_INVOLVED",
    "transaction_timeliness": "TRANS_TIMELINESS",
    "shares": "TRANS_SHARES",
    "total_value": "TRANS_TOTAL_VALUE",
    "price_per_share": "TRANS_PRICEPERSHARE",
    "acquired_disposed": "TRANS_ACQUIRED_DISP_CD",
    "shares_owned_following": "SHRS_OWND_FOLWNG_TRANS",
    "value_owned_following": "VALU_OWND_FOLWNG_TRANS",
    "direct_indirect": "DIRECT_INDIRECT_OWNERSHIP",
    "nature_of_ownership": "NATURE_OF_OWNERSHIP",
    "conversion_or_exercise_price": "CONV_EXERCISE_PRICE",
    "expiration_date": "EXPIRATION_DATE",
    "underlying_security_title": "UNDLYNG_SEC_TITLE",
    "underlying_shares": "UNDLYNG_SEC_SHARES",
    "underlying_value": "UNDLYNG_SEC_VALUE",
}


def sec_date(d: date | None) -> str:
    return f"{d.day:02d}-{MONTHS[d.month - 1]}-{d.year}" if d else ""


def _text(value: object) -> str:
    """A value as the SEC writes it in a cell: dates DD-MON-YYYY, booleans 0/1, no tabs or line breaks."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, date):
        return sec_date(value)
    if isinstance(value, Decimal):
        return str(value)
    return " ".join(str(value).replace("\t", " ").splitlines()).strip()


def _cik(cik: str) -> str:
    return str(int(cik))


def accession_of(filing: Filing) -> str:
    """The filing's accession number, or one made up from its content hash (bare XML has none)."""
    if filing.accession_number:
        return filing.accession_number
    n = int(filing.raw_sha256[:12], 16)
    return f"{9_000_000_000 + n % 999_999_999:010d}-{n % 100:02d}-{n % 1_000_000:06d}"


def filing_date_of(filing: Filing) -> date | None:
    return filing.filed_date or filing.period_of_report


class DatasetBuilder:
    """Rows of the eight tables, filing by filing; ``write`` makes the ZIP."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, str]]] = {name: [] for name in COLUMNS}
        self._accessions: set[str] = set()
        self._sk = 0

    def add(self, filing: Filing) -> bool:
        """The filing's rows in every table; False (and nothing added) when its accession is already in."""
        accession = accession_of(filing)
        if accession in self._accessions:
            return False
        self._accessions.add(accession)
        self.rows["SUBMISSION.tsv"].append(
            {
                "ACCESSION_NUMBER": accession,
                "FILING_DATE": sec_date(filing_date_of(filing)),
                "PERIOD_OF_REPORT": sec_date(filing.period_of_report),
                "DATE_OF_ORIG_SUB": sec_date(filing.date_of_original_submission),
                "NO_SECURITIES_OWNED": _text(filing.no_securities_owned),
                "NOT_SUBJECT_SEC16": _text(filing.not_subject_to_section16),
                "FORM3_HOLDINGS_REPORTED": _text(filing.form3_holdings_reported),
                "FORM4_TRANS_REPORTED": _text(filing.form4_transactions_reported),
                "DOCUMENT_TYPE": filing.document_type,
                "ISSUERCIK": _cik(filing.issuer.cik),
                "ISSUERNAME": _text(filing.issuer.name),
                "ISSUERTRADINGSYMBOL": _text(filing.issuer.trading_symbol),
                "REMARKS": _text(filing.remarks),
            }
        )
        for owner in filing.reporting_owners:
            relationship = [
                name
                for name, flag in (
                    ("Director", owner.is_director),
                    ("Officer", owner.is_officer),
                    ("TenPercentOwner", owner.is_ten_percent_owner),
                    ("Other", owner.is_other),
                )
                if flag
            ]
            self.rows["REPORTINGOWNER.tsv"].append(
                {
                    "ACCESSION_NUMBER": accession,
                    "RPTOWNERCIK": _cik(owner.cik),
                    "RPTOWNERNAME": _text(owner.name),
                    "RPTOWNER_RELATIONSHIP": ",".join(relationship),
                    "RPTOWNER_TITLE": _text(owner.officer_title),
                    "RPTOWNER_TXT": _text(owner.other_text),
                    "RPTOWNER_STREET1": _text(owner.address.street1),
                    "RPTOWNER_STREET2": _text(owner.address.street2),
                    "RPTOWNER_CITY": _text(owner.address.city),
                    "RPTOWNER_STATE": _text(owner.address.state),
                    "RPTOWNER_ZIPCODE": _text(owner.address.zip_code),
                    "RPTOWNER_STATE_DESC": _text(owner.address.state_description),
                }
            )
        for row in filing.transactions:
            table = "NONDERIV_TRANS.tsv" if row.table == "non_derivative" else "DERIV_TRANS.tsv"
            self.rows[table].append(self._row(accession, table, row))
        for holding in filing.holdings:
            table = "NONDERIV_HOLDING.tsv" if holding.table == "non_derivative" else "DERIV_HOLDING.tsv"
            self.rows[table].append(self._row(accession, table, holding))
        for footnote_id, text in filing.footnotes.items():
            self.rows["FOOTNOTES.tsv"].append(
                {"ACCESSION_NUMBER": accession, "FOOTNOTE_ID": footnote_id, "FOOTNOTE_TXT": _text(text)}
            )
        for signature in filing.signatures:
            self.rows["OWNER_SIGNATURE.tsv"].append(
                {
                    "ACCESSION_NUMBER": accession,
                    "OWNERSIGNATURENAME": _text(signature.name),
                    "OWNERSIGNATUREDATE": sec_date(signature.date),
                }
            )
        return True

    def _row(self, accession: str, table: str, row: Transaction | Holding) -> dict[str, str]:
        self._sk += 1
        out = {"ACCESSION_NUMBER": accession, table.replace(".tsv", "_SK"): str(self._sk)}
        exercise = "EXCERCISE_DATE" if table == "DERIV_TRANS.tsv" else "EXERCISE_DATE"  # the SEC's spelling
        for name, column in [*ROW_COLUMNS.items(), ("exercise_date", exercise)]:
            if name in type(row).model_fields:
                out[column] = _text(getattr(row, name))
            ids = row.footnote_ids.get(name)
            if ids:
                out[f"{column}_FN"] = ",".join(ids)
        return out

    def write(self, path: Path, *, extra_submission_column: str | None = None) -> Path:
        """The ZIP: the eight tables (in the metadata's order of columns), the metadata and a readme.
        ``extra_submission_column`` adds a column the metadata does not list (the SEC's headers drift:
        AFF10B5ONE appears in recent quarters) before ``REMARKS``."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for name, columns in COLUMNS.items():
                if name == "SUBMISSION.tsv" and extra_submission_column:
                    columns = (*columns[:-1], extra_submission_column, columns[-1])
                lines = ["\t".join(columns)]
                lines += ["\t".join(row.get(c, "") for c in columns) for row in self.rows[name]]
                z.writestr(name, ("\n".join(lines) + "\n").encode("utf-8"))
            metadata = DOCS / "FORM_345_metadata.json"
            if metadata.is_file():
                z.writestr("FORM_345_metadata.json", metadata.read_bytes())
            readme = f"<html><body>Form 345 Data Sets: {path.name} (test copy)</body></html>\n"
            z.writestr("FORM_345_readme.htm", readme.encode())
        path.write_bytes(buffer.getvalue())
        return path


def write_dataset(path: Path, filings: Iterable[Filing], **options: str | None) -> Path:
    builder = DatasetBuilder()
    for filing in filings:
        builder.add(filing)
    return builder.write(path, **options)


def quarter_of(filing: Filing) -> tuple[int, int]:
    """The quarter whose data set lists the filing: its filing date's."""
    day = filing_date_of(filing)
    assert day is not None, f"{accession_of(filing)} has no filing date"
    return day.year, (day.month - 1) // 3 + 1


def quarterly_datasets(
    directory: Path, filings: Iterable[Filing], name: Callable[[int, int], str] | None = None
) -> dict[tuple[int, int], Path]:
    """One ZIP per quarter of filing dates, named like the SEC's (``2024q1_form345.zip``)."""
    by_quarter: dict[tuple[int, int], list[Filing]] = {}
    for filing in filings:
        by_quarter.setdefault(quarter_of(filing), []).append(filing)
    namer = name or (lambda y, q: f"{y}q{q}_form345.zip")
    directory.mkdir(parents=True, exist_ok=True)
    return {
        quarter: write_dataset(directory / namer(*quarter), group)
        for quarter, group in sorted(by_quarter.items())
    }


def content_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
