"""The Faust application: thin agents that move data between topics and tables.

    form4.raw ──parse──▶ (by issuer) ──process──▶ form4.filings, form4.transactions, form4.alerts
        │                                 └──────▶ (by owner) ──holdings──▶ holdings table, form4.holdings
        └──────────────▶ form4.dlq

Partitioning: a filing's copies (EDGAR's feed lists each twice, replays, redeliveries) all carry the same
issuer, so repartitioning by issuer CIK puts them on one partition, where the ``seen`` table drops repeats
and the issuer's state (amendment history, cluster-buy window, first purchases) lives. Holding candidates
are repartitioned by owner CIK, so each insider's lines are updated in order on one partition. Topic keys
and values are raw bytes serialised by our pydantic models (decimals as strings); tables hold JSON-ready
dicts under Faust's json codec (see ``table_options``).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

import faust

from streams.alerts import RulesConfig, load_rules
from streams.holdings import apply
from streams.models import DeadLetter, Filing, HoldingState, TransactionRecord
from streams.process import IssuerState, Source, dead_letter, identity, process_filing, read_event
from streams.records import holding_key_string
from streams.settings import Settings, faust_app_kwargs

log = logging.getLogger("streams.app")

APP_ID = "form4-streams"


def _raw_topic(app: faust.App, name: str, **kwargs: Any) -> faust.TopicT:
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw", **kwargs
    )


def _json_list(items: list[Any]) -> bytes:
    return ("[" + ",".join(i.model_dump_json() for i in items) + "]").encode()


class _RecordsView(Mapping[str, list[TransactionRecord]]):
    """The records table seen as accession -> records, decoded only when an amendment asks for its original."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def __getitem__(self, accession: str) -> list[TransactionRecord]:
        stored = self._table.get(accession)
        if stored is None:
            raise KeyError(accession)
        return [TransactionRecord.model_validate(item) for item in stored]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.keys())

    def __len__(self) -> int:
        return len(self._table)


def create_app(settings: Settings | None = None, rules: RulesConfig | None = None) -> faust.App:
    settings = settings or Settings()
    rules = rules or load_rules(settings.rules_file)
    topics = settings.topics
    app = faust.App(
        f"{APP_ID}-{topics.prefix}" if topics.prefix != "form4" else APP_ID, **faust_app_kwargs(settings)
    )

    raw = _raw_topic(app, topics.raw)
    filings_out = _raw_topic(app, topics.filings)
    transactions_out = _raw_topic(app, topics.transactions)
    holdings_out = _raw_topic(app, topics.holdings)
    alerts_out = _raw_topic(app, topics.alerts)
    dlq = _raw_topic(app, topics.dlq)
    by_issuer = _raw_topic(
        app, f"{app.conf.id}-filings-by-issuer", internal=True, partitions=settings.partitions
    )
    by_owner = _raw_topic(
        app, f"{app.conf.id}-holdings-by-owner", internal=True, partitions=settings.partitions
    )

    # Table values are JSON-ready dicts (pydantic's mode="json": decimals as strings) under Faust's json codec:
    # the same in the memory and rocksdb stores and after changelog recovery.
    table_options: dict[str, Any] = {"key_type": str, "partitions": settings.partitions}
    seen = app.Table("seen", **table_options)  # filing identity -> raw sha256
    issuers = app.Table("issuers", **table_options)  # issuer CIK -> IssuerState
    holdings = app.Table("holdings", **table_options)  # holding key -> HoldingState
    records = app.Table("records", **table_options)  # accession -> its TransactionRecords, for amendments

    async def send_dead_letter(letter: DeadLetter, key: bytes | None) -> None:
        headers = {
            "error.reason": letter.reason,
            "error.class": letter.error_class or "",
            "error.message": letter.message,
            "source.topic": letter.source_topic or "",
            "source.partition": str(letter.source_partition),
            "source.offset": str(letter.source_offset),
            "parser.version": letter.parser_version,
            "failed.at": letter.failed_at.isoformat(),
        }
        await dlq.send(
            key=key,
            value=letter.model_dump_json().encode(),
            headers=[(name, text.encode()) for name, text in headers.items()],
        )
        log.warning("dead letter %s: %s", letter.reason, letter.message)

    async def guarded(event: faust.EventT, handler: Any) -> None:
        """A bug in a step must neither stop the agent nor drop the event: it becomes an internal_error."""
        try:
            await handler(event.value)
        except Exception as exc:
            log.exception(
                "internal error on %s[%s]@%s",
                event.message.topic,
                event.message.partition,
                event.message.offset,
            )
            source = Source(event.message.topic, event.message.partition, event.message.offset, event.key)
            letter = dead_letter(
                event.value or b"",
                "internal_error",
                f"{type(exc).__name__}: {exc}",
                source,
                error_class=type(exc).__name__,
            )
            await send_dead_letter(letter, event.key)

    @app.agent(raw)
    async def parse(stream: faust.StreamT) -> None:
        """Raw bytes to a Filing, or a dead letter; every event ends as one or the other."""
        async for event in stream.events():
            message = event.message
            source = Source(message.topic, message.partition, message.offset, event.key)
            outcome = read_event(event.value, source, settings.max_filing_bytes)
            if isinstance(outcome, DeadLetter):
                await send_dead_letter(outcome, event.key)
                continue
            await by_issuer.send(key=outcome.issuer.cik.encode(), value=outcome.model_dump_json().encode())

    async def handle_filing(value: bytes) -> None:
        filing = Filing.model_validate_json(value)
        key = identity(filing)
        if seen.get(key) is not None:
            log.info("duplicate %s skipped", key)
            return
        stored = issuers.get(filing.issuer.cik)
        state = IssuerState.model_validate(stored) if stored else None
        new_state, out = process_filing(filing, state, rules, _RecordsView(records))

        await filings_out.send(key=key.encode(), value=value)
        for record in [*out.records, *out.superseded]:
            await transactions_out.send(key=record.txn_id.encode(), value=record.model_dump_json().encode())
        for alert in out.alerts:
            await alerts_out.send(key=alert.alert_id.encode(), value=alert.model_dump_json().encode())
        per_owner: dict[str, list[HoldingState]] = defaultdict(list)
        for candidate in out.holdings:
            per_owner[candidate.key.owner_cik].append(candidate)
        for owner_cik, candidates in per_owner.items():
            await by_owner.send(key=owner_cik.encode(), value=_json_list(candidates))
        if filing.accession_number and not filing.derived.is_amendment and out.records:
            records[filing.accession_number] = [r.model_dump(mode="json") for r in out.records]
        issuers[filing.issuer.cik] = new_state.model_dump(mode="json")
        seen[key] = filing.raw_sha256

    @app.agent(by_issuer)
    async def process(stream: faust.StreamT) -> None:
        """One filing per issuer partition: dedup, amendment link, records, alerts, holding candidates."""
        async for event in stream.events():
            await guarded(event, handle_filing)

    async def handle_holdings(value: bytes) -> None:
        for item in json.loads(value):
            candidate = HoldingState.model_validate(item)
            key = holding_key_string(candidate.key)
            stored = holdings.get(key)
            current = HoldingState.model_validate(stored) if stored else None
            new = apply(current, candidate)
            if new is None:
                continue
            holdings[key] = new.model_dump(mode="json")
            await holdings_out.send(key=key.encode(), value=new.model_dump_json().encode())

    @app.agent(by_owner)
    async def update_holdings(stream: faust.StreamT) -> None:
        """Last reported balance per holding line; an older row arriving late never overwrites newer state."""
        async for event in stream.events():
            await guarded(event, handle_holdings)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """Alive: the event loop answers."""
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """503 until table recovery has finished and while a rebalance is under way (streaming-notes 8.3)."""
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        ready = recovered and not app.rebalancing and not app.in_recovery
        body = {"ready": ready, "recovered": recovered, "rebalancing": bool(app.rebalancing)}
        return web.json(body, status=200 if ready else 503)

    @app.page("/local/holdings/owner/{cik}")
    async def local_owner_holdings(web: Any, request: Any, cik: str) -> Any:
        """This worker's holding lines of one owner: no routing to other workers (one-worker use and tests)."""
        prefix = f"{cik.zfill(10)}|"
        return web.json([line for key, line in sorted(holdings.items()) if key.startswith(prefix)])

    app.form4 = {  # type: ignore[attr-defined]
        "settings": settings,
        "tables": {"seen": seen, "issuers": issuers, "holdings": holdings, "records": records},
        "agents": (parse, process, update_holdings),
    }
    return app
