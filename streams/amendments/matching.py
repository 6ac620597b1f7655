"""Which of an earlier filing's rows an amendment restates: ``match_rows``.

An amendment restates the filing, so what it supersedes is matched by what an amendment can change, per table:
identical rows first, then the most similar signatures, then the rest by position when the table has as many
rows in both; rows it leaves alone stay live. Pure: no state.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence

from streams.models import Transaction
from streams.records import normalize_security

SAME_SIGNATURE = "same_signature"  # every signature key agrees
SIMILAR_SIGNATURE = "similar_signature"  # the most similar row, at most 2 keys differ
SAME_POSITION = "same_position"  # the rest, when the table has as many rows in both: in document order

#: What a row's signature compares, in order of weight when two candidates are equally similar.
SIGNATURE_KEYS = (
    "transaction_date",
    "transaction_code",
    "acquired_disposed",
    "shares",
    "security_title",
    "price_per_share",
    "ownership",
    "balance_after",
)
MIN_AGREEING_KEYS = len(SIGNATURE_KEYS) - 2

# Split in 3 groups, keys of a pair with at most 2 differing agree on a whole group: candidates come from
# buckets by group, each with one of the keys that tell tranches apart (shares, price, balance after).
_BUCKET_GROUPS = ((0, 1, 2, 3), (4, 5), (6, 7))
MAX_SCORED_PAIRS = 50_000  # per table: bounds a pathological similarity match to about 0.3 s


def _signature(row: Transaction) -> tuple[object, ...]:
    return (
        row.transaction_date,
        row.transaction_code,
        row.acquired_disposed,
        row.shares,
        normalize_security(row.security_title or ""),
        row.price_per_share,
        (row.direct_indirect, normalize_security(row.nature_of_ownership or "")),
        (row.shares_owned_following, row.value_owned_following),
    )


def match_rows(
    original: Sequence[Transaction], amendment: Sequence[Transaction]
) -> list[tuple[int, int, str]]:
    """(original index, amendment index, how) for each original row the amendment restates, per table:

    1. ``same_signature``: rows whose every signature key agrees, in document order;
    2. ``similar_signature``: each remaining amendment row takes the most similar remaining original row —
       most keys agreeing, then by ``SIGNATURE_KEYS`` order, then nearest position — with at most 2 keys
       differing;
    3. ``same_position``: if the table has as many rows in both (the amendment restates the table), the rest
       pair in document order, whatever they changed.

    Otherwise original rows left unmatched are left alone, and amendment rows left unmatched are new.
    """
    pairs: list[tuple[int, int, str]] = []
    for table in ("non_derivative", "derivative"):
        in_original = [i for i, r in enumerate(original) if r.table == table]
        in_amendment = [j for j, r in enumerate(amendment) if r.table == table]
        if not in_original or not in_amendment:
            continue
        waiting: dict[tuple[object, ...], deque[int]] = defaultdict(deque)
        for i in in_original:
            waiting[_signature(original[i])].append(i)
        found = []
        for j in in_amendment:
            same = waiting.get(_signature(amendment[j]))
            if same:
                found.append((same.popleft(), j, SAME_SIGNATURE))
        found += _most_similar(original, amendment, *_left(in_original, in_amendment, found))
        if len(in_original) == len(in_amendment):
            left_o, left_a = _left(in_original, in_amendment, found)
            found += [(i, j, SAME_POSITION) for i, j in zip(left_o, left_a, strict=True)]
        pairs += found
    return sorted(pairs)


def _left(
    in_original: list[int], in_amendment: list[int], pairs: list[tuple[int, int, str]]
) -> tuple[list[int], list[int]]:
    taken_o, taken_a = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
    return [i for i in in_original if i not in taken_o], [j for j in in_amendment if j not in taken_a]


def _most_similar(
    original: Sequence[Transaction], amendment: Sequence[Transaction], left_o: list[int], left_a: list[int]
) -> list[tuple[int, int, str]]:
    signatures = {i: _signature(original[i]) for i in left_o}
    buckets: list[dict[object, list[int]]] = [defaultdict(list) for _ in _BUCKET_GROUPS]
    for i in left_o:
        for bucket, group in zip(buckets, _BUCKET_GROUPS, strict=True):
            bucket[tuple(signatures[i][k] for k in group)].append(i)
    scored = []
    budget = MAX_SCORED_PAIRS
    for j in left_a:
        theirs = _signature(amendment[j])
        groups = sorted(
            (
                bucket.get(tuple(theirs[k] for k in group), [])
                for bucket, group in zip(buckets, _BUCKET_GROUPS, strict=True)
            ),
            key=len,
        )
        seen: set[int] = set()
        for candidates in groups:  # smallest bucket first; a row one key off cannot be bettered: stop there
            budget -= len(candidates)
            if budget < 0:
                break  # pathological: rows not scored stay live (or pair by position) rather than block the loop
            best = 0
            for i in candidates:
                if i in seen:
                    continue
                seen.add(i)
                agree = [mine == their for mine, their in zip(signatures[i], theirs, strict=True)]
                best = max(best, sum(agree))
                if sum(agree) >= MIN_AGREEING_KEYS:
                    distance = abs(original[i].row_index - amendment[j].row_index)
                    scored.append((-sum(agree), [not a for a in agree], distance, j, i))
            if best == len(SIGNATURE_KEYS) - 1:
                break
    scored.sort()
    used_o: set[int] = set()
    used_a: set[int] = set()
    pairs = []
    for *_, j, i in scored:
        if i not in used_o and j not in used_a:
            used_o.add(i)
            used_a.add(j)
            pairs.append((i, j, SIMILAR_SIGNATURE))
    return pairs
