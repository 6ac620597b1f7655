"""Which partition a filing goes to: its issuer's, on form4.raw as on the by-issuer topic.

The worker keeps an issuer's state on the issuer's partition. A filing that arrives on form4.raw in the
partition its issuer CIK hashes to is processed where it lands; any other goes through the by-issuer topic
first (a produce, a fetch and the filing's JSON written and read again: a fifth of the worker's CPU). So our
ingesters send each filing to its issuer's partition, found with one scan of the document; the key stays the
accession number. A producer that partitions by key (any other) still gets every filing processed, through the
hop. Both sides hash with Kafka's default partitioner (murmur2), as Faust's sends and router do.
"""

from __future__ import annotations

import re

from aiokafka.partitioner import DefaultPartitioner

_PARTITIONER = DefaultPartitioner()
#: The parser's reading of ``<issuerCik>`` (``streams.parse.values.to_cik``): up to 10 digits, zero-filled,
#: blanks around them, written as they are or as JSON escapes (a document inside an envelope).
_BLANK = rb"(?:\s|\\[nrt])*"
_ISSUER_CIK = re.compile(rb"<issuerCik>" + _BLANK + rb"(\d{1,10})" + _BLANK + rb"</issuerCik>")


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions``."""
    everyone = list(range(partitions))
    return int(_PARTITIONER(key, everyone, everyone))


def issuer_key(document: bytes) -> bytes | None:
    """The issuer CIK as the by-issuer topic keys it (10 digits), from the first ``<issuerCik>`` of an ownership
    XML, an EDGAR submission or a JSON envelope holding one; None when there is none to read."""
    found = _ISSUER_CIK.search(document)
    return found[1].zfill(10) if found else None


def raw_partition(document: bytes, partitions: int) -> int | None:
    """The partition of form4.raw for ``document``: its issuer's, or None (the producer's choice, by key) when
    the document names no issuer. A wrong guess costs only the hop: the worker reads the issuer it parsed."""
    key = issuer_key(document)
    return None if key is None else partition_for_key(key, partitions)
