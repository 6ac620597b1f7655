"""Read an ownershipDocument (any schema version, namespaced or not) into plain as-filed values.

Elements are matched by local name and unknown ones are ignored, so new schema versions keep parsing.
Every leaf is a (value, footnote ids) pair: a missing value stays None — never 0 — and each footnote
reference is kept against the field that cites it. Hostile input is refused before lxml sees it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from lxml import etree

from streams.bounds import MAX_ATTRIBUTES_PER_ELEMENT
from streams.parse.errors import ErrorCode, ParseError
from streams.parse.values import to_bool, to_cik, to_date, to_decimal, to_text

DOCUMENT_TYPES = frozenset({"3", "3/A", "4", "4/A", "5", "5/A"})

_HOSTILE = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ROOT_CLOSED = re.compile(rb"</(?:[\w.-]+:)?ownershipDocument\s*>\s*\Z")
_ROOT_TAIL = 256  # the closing tag is looked for at the end only, not at every "</" of the document
_ROW_TAGS = {
    "nonDerivativeTransaction": ("non_derivative", "transactions"),
    "nonDerivativeHolding": ("non_derivative", "holdings"),
    "derivativeTransaction": ("derivative", "transactions"),
    "derivativeHolding": ("derivative", "holdings"),
}
_RAW_ROW = re.compile(
    rb"<(?:[\w.-]+:)?(nonDerivativeTransaction|nonDerivativeHolding|derivativeTransaction|derivativeHolding)[\s>/]"
)

# Every external door shut: no entity expansion, no DTD, no network, libxml2's default size and depth limits.
_safe_parser = partial(
    etree.XMLParser,
    resolve_entities=False,
    load_dtd=False,
    no_network=True,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)
_STRICT = _safe_parser()
_RECOVER = _safe_parser(recover=True)
# Both run in C, in time linear in the tree: whether any element has an attribute past the bound, and an
# element's attribute values (lxml's attrib.values() looks each value up by name, quadratic in their count).
_TOO_MANY_ATTRIBUTES = etree.XPath(f"boolean(//@*[{MAX_ATTRIBUTES_PER_ELEMENT + 1}])")
_ATTRIBUTE_VALUES = etree.XPath("@*")

Converter = Callable[[str, str, list[str]], Any]

# Row leaf element -> (our field name, converter). Wrappers (transactionAmounts, ...) are walked through.
ROW_FIELDS: dict[str, tuple[str, Converter]] = {
    "securityTitle": ("security_title", to_text),
    "transactionDate": ("transaction_date", to_date),
    "deemedExecutionDate": ("deemed_execution_date", to_date),
    "transactionFormType": ("transaction_form_type", to_text),
    "transactionCode": ("transaction_code", to_text),
    "equitySwapInvolved": ("equity_swap_involved", to_bool),
    "transactionTimeliness": ("transaction_timeliness", to_text),
    "transactionShares": ("shares", to_decimal),
    "transactionTotalValue": ("total_value", to_decimal),
    "transactionPricePerShare": ("price_per_share", to_decimal),
    "transactionAcquiredDisposedCode": ("acquired_disposed", to_text),
    "sharesOwnedFollowingTransaction": ("shares_owned_following", to_decimal),
    "valueOwnedFollowingTransaction": ("value_owned_following", to_decimal),
    "directOrIndirectOwnership": ("direct_indirect", to_text),
    "natureOfOwnership": ("nature_of_ownership", to_text),
    "conversionOrExercisePrice": ("conversion_or_exercise_price", to_decimal),
    "exerciseDate": ("exercise_date", to_date),
    "expirationDate": ("expiration_date", to_date),
    "underlyingSecurityTitle": ("underlying_security_title", to_text),
    "underlyingSecurityShares": ("underlying_shares", to_decimal),
    "underlyingSecurityValue": ("underlying_value", to_decimal),
}
# Off-spec spellings seen in real filings, read as the field they obviously mean (with a warning).
ROW_FIELD_ALIASES = {"sharesOwned": "sharesOwnedFollowingTransaction"}
# Footnotes cited by a wrapper rather than a leaf. transactionCoding's footnote explains the code
# (the SEC data sets call it the coding footnote), so it is filed under transaction_code.
WRAPPER_FOOTNOTE_FIELDS = {
    "transactionCoding": "transaction_code",
    "transactionAmounts": "transaction_amounts",
    "postTransactionAmounts": "post_transaction_amounts",
    "ownershipNature": "ownership_nature",
    "underlyingSecurity": "underlying_security",
}
HOLDING_FIELDS = frozenset(
    {
        "security_title",
        "transaction_form_type",
        "shares_owned_following",
        "value_owned_following",
        "direct_indirect",
        "nature_of_ownership",
        "conversion_or_exercise_price",
        "exercise_date",
        "expiration_date",
        "underlying_security_title",
        "underlying_shares",
        "underlying_value",
    }
)
_ADDRESS_FIELDS = {
    "rptOwnerStreet1": "street1",
    "rptOwnerStreet2": "street2",
    "rptOwnerCity": "city",
    "rptOwnerState": "state",
    "rptOwnerZipCode": "zip_code",
    "rptOwnerStateDescription": "state_description",
    "rptOwnerCountry": "country",
    "rptOwnerCounrty": "country",  # the SEC specification's own samples misspell it
}
_RELATIONSHIP_FLAGS = {
    "isDirector": "is_director",
    "isOfficer": "is_officer",
    "isTenPercentOwner": "is_ten_percent_owner",
    "isOther": "is_other",
}
_DOC_BOOLS = {
    "noSecuritiesOwned": "no_securities_owned",
    "notSubjectToSection16": "not_subject_to_section16",
    "form3HoldingsReported": "form3_holdings_reported",
    "form4TransactionsReported": "form4_transactions_reported",
    "aff10b5One": "aff10b5one",
}
_DOC_DATES = {"periodOfReport": "period_of_report", "dateOfOriginalSubmission": "date_of_original_submission"}


def _local(tag: Any) -> str | None:
    if not isinstance(tag, str):
        return None  # comments, processing instructions, entities
    return tag[tag.index("}") + 1 :] if tag[0] == "{" else tag


def _strip_namespaces(root: etree._Element) -> None:
    """Namespaced documents exist but are rare: rename once so every later lookup is a plain C-level match."""
    for el in root.iter(tag=etree.Element):
        if el.tag[0] == "{":
            el.tag = el.tag[el.tag.index("}") + 1 :]


def _leaf(el: etree._Element) -> str | None:
    """The element's value: its <value> child's text when it has one, else its own text; blank is None.

    A direct child scan: lxml's findtext goes through the Python-level ElementPath and costs 6x more.
    """
    if len(el):
        for child in el:
            if child.tag == "value":
                text = child.text
                break
        else:
            return None
    else:
        text = el.text
    if text is None:
        return None
    text = text.strip()
    return text or None


def _all_text(el: etree._Element) -> str:
    """Footnotes and remarks can carry markup: keep the text of the whole subtree."""
    return etree.tostring(el, method="text", encoding="unicode", with_tail=False).strip()


def _footnote_refs(el: etree._Element) -> list[str]:
    return [(c.get("id") or "").strip() for c in el.iterchildren("footnoteId")]


_HOSTILE_MESSAGE = "document declares a DOCTYPE or ENTITY; ownership documents never do, refused unparsed"
# Encodings whose "<!DOCTYPE" is not those ASCII bytes: UTF-16 and UTF-32 (with or without a byte-order
# mark; XML's encoding detection reads the NUL bytes around "<"). Real filings are ASCII or UTF-8.
_WIDE_ENCODINGS = ("utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be")
_HOSTILE_TEXT = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _declares_doctype(xml: bytes) -> bool:
    """A DOCTYPE or ENTITY declaration in the document's own encoding, found before lxml sees it."""
    if _HOSTILE.search(xml):
        return True
    if b"\x00" not in xml[:4]:  # ASCII-compatible: the byte search above was the whole answer
        return False
    # Only wide-encoded documents get here (a rare, never legitimate case); each decoding costs one pass.
    return any(_HOSTILE_TEXT.search(xml.decode(codec, "ignore")) for codec in _WIDE_ENCODINGS)


def load_tree(xml: bytes, warnings: list[str]) -> etree._Element:
    """Parse with every external door shut; repair only what provably loses nothing."""
    if _declares_doctype(xml):
        raise ParseError(ErrorCode.HOSTILE_XML, _HOSTILE_MESSAGE)
    try:
        root = etree.fromstring(xml, _STRICT)
    except etree.XMLSyntaxError as strict_error:
        root = _recover(xml, strict_error, warnings)
    except ValueError as exc:  # e.g. a str with an encoding declaration, or NUL bytes
        raise ParseError(ErrorCode.MALFORMED_XML, f"not parseable as XML: {exc}") from None
    else:
        _check_attribute_count(root)
    if (root is not None and isinstance(root.tag, str) and root.tag[0] == "{") or (
        root is not None and b"xmlns:" in xml
    ):
        _strip_namespaces(root)
    if root is not None and root.getroottree().docinfo.doctype:  # type: ignore[union-attr]  # any encoding
        raise ParseError(ErrorCode.HOSTILE_XML, _HOSTILE_MESSAGE.replace("refused unparsed", "refused"))
    if root is None or _local(root.tag) != "ownershipDocument":
        found = _local(root.tag) if root is not None else "nothing"
        raise ParseError(
            ErrorCode.NOT_OWNERSHIP_DOCUMENT, f"root element is <{found}>, not <ownershipDocument>"
        )
    return root


# The only well-formedness errors lxml repairs without dropping content: a misspelled closing tag
# (the SEC's own samples close <rptOwnerCounrty> with </rptOwnerCountry>) and junk inside a start tag.
_REPAIRABLE = frozenset(
    {
        etree.ErrorTypes.ERR_TAG_NAME_MISMATCH,
        etree.ErrorTypes.ERR_ATTRIBUTE_WITHOUT_VALUE,
        etree.ErrorTypes.ERR_ATTRIBUTE_NOT_STARTED,
        etree.ErrorTypes.ERR_SPACE_REQUIRED,
    }
)


def _recover(xml: bytes, strict_error: etree.XMLSyntaxError, warnings: list[str]) -> etree._Element:
    """Accept lxml's repair only for a complete document whose every row survived the repair."""
    message = f"malformed XML: {strict_error}"
    if getattr(strict_error, "code", None) not in _REPAIRABLE:
        raise ParseError(ErrorCode.MALFORMED_XML, message)
    if not _ROOT_CLOSED.search(xml, max(0, len(xml.rstrip()) - _ROOT_TAIL)):
        raise ParseError(ErrorCode.MALFORMED_XML, f"{message} (document is truncated or not closed)")
    try:
        root = etree.fromstring(xml, _RECOVER)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        raise ParseError(ErrorCode.MALFORMED_XML, message)
    raw_rows = len(_RAW_ROW.findall(xml))
    kept_rows = sum(1 for el in root.iter() if _local(el.tag) in _ROW_TAGS)
    if raw_rows != kept_rows:
        raise ParseError(
            ErrorCode.MALFORMED_XML, f"{message}; repair would keep {kept_rows} of {raw_rows} rows"
        )
    _check_attribute_count(root)
    _check_characters(root)
    warnings.append(f"recovered {message}")
    return root


def _check_attribute_count(root: etree._Element) -> None:
    """No element carries more attributes than MAX_ATTRIBUTES_PER_ELEMENT: real ones carry one or two."""
    if _TOO_MANY_ATTRIBUTES(root):
        raise ParseError(
            ErrorCode.HOSTILE_XML,
            f"an element carries more than {MAX_ATTRIBUTES_PER_ELEMENT} attributes; "
            "ownership documents carry at most two, refused",
        )


def _check_characters(root: etree._Element) -> None:
    """A repaired tree can hold character references to surrogates (&#xD800;), which lxml keeps as bytes that
    are not UTF-8 and no later step can encode: refuse them here, naming the element."""
    for el in root.iter():
        try:
            el.text, el.tail, el.attrib and _ATTRIBUTE_VALUES(el)
        except UnicodeDecodeError:
            name = _local(el.tag) or "a comment"
            raise ParseError(
                ErrorCode.INVALID_VALUE,
                f"<{name}> holds a character reference to a surrogate (&#xD800;-&#xDFFF;), not a character",
            ) from None


def read_document(root: etree._Element, warnings: list[str]) -> dict[str, Any]:
    """The whole ownershipDocument as a dict of as-filed values, in the shape of models.Filing."""
    doc: dict[str, Any] = {
        "issuer": None,
        "reporting_owners": [],
        "footnotes": {},
        "footnote_ids": {},
        "signatures": [],
        "transactions": [],
        "holdings": [],
    }
    for el in root:
        name = _local(el.tag)
        if name is None:
            continue
        if name in _ROW_TAGS or name in ("nonDerivativeTable", "derivativeTable"):
            _read_table(el, doc, warnings)
        elif name == "reportingOwner":
            doc["reporting_owners"].append(_read_owner(el, warnings))
        elif name == "issuer":
            doc["issuer"] = _read_issuer(el)
        elif name == "footnotes":
            for fn in el:
                if _local(fn.tag) == "footnote":
                    fid = (fn.get("id") or "").strip()
                    doc["footnotes"][fid] = _all_text(fn)
        elif name in ("ownerSignature", "signature"):
            doc["signatures"].append(_read_signature(el))
        elif name == "remarks":
            doc["remarks"] = _all_text(el) or None
        elif name in _DOC_BOOLS:
            text = _leaf(el)
            doc[_DOC_BOOLS[name]] = None if text is None else to_bool(text, name)
        elif name in _DOC_DATES:
            text = _leaf(el)
            doc[_DOC_DATES[name]] = None if text is None else to_date(text, name)
        elif name == "documentType":
            doc["document_type"] = _leaf(el)
        elif name == "schemaVersion":
            doc["schema_version"] = _leaf(el)
        refs = [] if name in _ROW_TAGS else _footnote_refs(el)
        if refs:
            doc["footnote_ids"].setdefault(name, []).extend(refs)
    doc.pop("_row_counts", None)
    _check_footnote_refs(doc, warnings)
    if doc["issuer"] is None:
        raise ParseError(ErrorCode.MISSING_REQUIRED, "document has no <issuer>")
    if not doc["reporting_owners"]:
        raise ParseError(ErrorCode.MISSING_REQUIRED, "document has no <reportingOwner>")
    return doc


def _check_footnote_refs(doc: dict[str, Any], warnings: list[str]) -> None:
    """A cited id with no footnote text cannot be resolved; say so rather than let it pass silently."""
    cited = {i for ids in doc["footnote_ids"].values() for i in ids}
    for row in (*doc["transactions"], *doc["holdings"]):
        for ids in row["footnote_ids"].values():
            cited.update(ids)
    for missing in sorted(cited - doc["footnotes"].keys()):
        warnings.append(f"footnote {missing} is cited but not defined in <footnotes>")


_ISSUER_TEXT = {
    "issuerName": "name",
    "issuerTradingSymbol": "trading_symbol",
    "issuerForeignTradingSymbol": "foreign_trading_symbol",  # X0609, foreign private issuers
}


def _short(el: etree._Element, name: str) -> str | None:
    """An identifying text leaf, bounded (see values.MAX_FIELD_CHARS)."""
    text = _leaf(el)
    return None if text is None else to_text(text, name)


def _read_issuer(el: etree._Element) -> dict[str, Any]:
    issuer: dict[str, Any] = {}
    for child in el:
        name = _local(child.tag)
        if name == "issuerCik":
            text = _leaf(child)
            if text is not None:
                issuer["cik"] = to_cik(text, name)
        elif name in _ISSUER_TEXT:
            issuer[_ISSUER_TEXT[name]] = _short(child, name)
    if "cik" not in issuer:
        raise ParseError(ErrorCode.MISSING_REQUIRED, "<issuer> has no <issuerCik>")
    return issuer


def _read_owner(el: etree._Element, warnings: list[str]) -> dict[str, Any]:
    owner: dict[str, Any] = {"address": {}}
    for part in el:
        part_name = _local(part.tag)
        for child in part:
            name = _local(child.tag)
            if name is None:
                continue
            text = _leaf(child)
            if text is not None:
                to_text(text, name)  # every owner leaf is identifying text: bounded
            if part_name == "reportingOwnerId":
                if name == "rptOwnerCik" and text is not None:
                    owner["cik"] = to_cik(text, name)
                elif name == "rptOwnerName":
                    owner["name"] = text
            elif part_name == "reportingOwnerAddress":
                if name in _ADDRESS_FIELDS:
                    if text is not None or _ADDRESS_FIELDS[name] not in owner["address"]:
                        owner["address"][_ADDRESS_FIELDS[name]] = text
                elif name == "rptOwnerGoodAddress" and text is not None:
                    owner["address"]["good_address"] = to_bool(text, name)
                elif name == "rptOwnerNonUSAddressFlag" and text is not None:
                    owner["address"]["non_us_address"] = to_bool(text, name)
                elif (
                    name == "rptOwnerNonUSStateTerritory"
                    and text is not None
                    and owner["address"].get("state_description") is None  # an empty one must not hide it
                ):
                    owner["address"]["state_description"] = text  # X0609's non-US state or territory
            elif part_name == "reportingOwnerRelationship":
                if name in _RELATIONSHIP_FLAGS:
                    owner[_RELATIONSHIP_FLAGS[name]] = False if text is None else to_bool(text, name)
                elif name == "officerTitle":
                    owner["officer_title"] = text
                elif name == "otherText":
                    owner["other_text"] = text
    if "cik" not in owner:
        raise ParseError(ErrorCode.MISSING_REQUIRED, "<reportingOwner> has no <rptOwnerCik>")
    return owner


def _read_signature(el: etree._Element) -> dict[str, Any]:
    sig: dict[str, Any] = {}
    for child in el:
        name = _local(child.tag)
        if name == "signatureName":
            sig["name"] = _short(child, name)
        elif name == "signatureDate":
            text = _leaf(child)
            sig["date"] = None if text is None else to_date(text, name)
    return sig


def _read_table(el: etree._Element, doc: dict[str, Any], warnings: list[str]) -> None:
    rows = [el] if _local(el.tag) in _ROW_TAGS else list(el)
    for row in rows:
        kind = _ROW_TAGS.get(_local(row.tag) or "")
        if kind is None:
            continue
        table, bucket = kind
        fields = _read_row(row, warnings)
        if bucket == "holdings":
            extra = set(fields) - HOLDING_FIELDS - {"footnote_ids"}
            if extra:
                warnings.append(
                    f"holding row carries transaction fields {sorted(extra)}; kept out of the holding"
                )
                for name in extra:
                    del fields[name]
        else:
            fields["coding_missing"] = not any(_local(c.tag) == "transactionCoding" for c in row)
        fields["table"] = table
        counters = doc.setdefault("_row_counts", {})
        fields["row_index"] = counters.get((table, bucket), 0)
        counters[(table, bucket)] = fields["row_index"] + 1
        doc[bucket].append(fields)


def _read_row(row: etree._Element, warnings: list[str]) -> dict[str, Any]:
    """One table row: the parser's hot loop, one pass in document order with no per-element calls.

    A field's <value> child is the next element the pass meets, so it is read there rather than by
    searching the field's children; any element other than a footnoteId in between clears the pending
    field, so a <value> under an unknown element is never taken for a known field's.
    """
    fields: dict[str, Any] = {}
    footnote_ids: dict[str, list[str]] = {}
    field_spec = ROW_FIELDS.get
    pending: tuple[str, Converter, str] | None = None
    # No element-type filter: comments and PIs are removed at parse time, and any other node's tag is a
    # function, which matches nothing below.
    for el in row.iterdescendants():
        name = el.tag
        if name == "value":
            if pending is not None:
                text = el.text
                if text is not None and (text := text.strip()):
                    field, convert, element = pending
                    fields[field] = convert(text, element, warnings)
                pending = None
            continue
        if name == "footnoteId":
            parent_el = el.getparent()
            parent = parent_el.tag if parent_el is not None else ""
            parent = ROW_FIELD_ALIASES.get(parent, parent)
            key = (
                ROW_FIELDS[parent][0] if parent in ROW_FIELDS else WRAPPER_FOOTNOTE_FIELDS.get(parent, parent)
            )
            footnote_ids.setdefault(key, []).append((el.get("id") or "").strip())
            continue
        spec = field_spec(name)
        if spec is None and name in ROW_FIELD_ALIASES:
            warnings.append(f"off-spec element <{name}> read as <{ROW_FIELD_ALIASES[name]}>")
            spec = ROW_FIELDS[ROW_FIELD_ALIASES[name]]
        if spec is None:
            pending = None
        elif len(el):
            pending = (spec[0], spec[1], name)
        else:
            pending = None
            text = el.text
            if text is not None and (text := text.strip()):
                fields[spec[0]] = spec[1](text, name, warnings)
    fields["footnote_ids"] = footnote_ids
    return fields
