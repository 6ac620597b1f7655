"""A partition's true end offset: what a Fetch reports as its high watermark, not what ListOffsets says.

The embedded broker (Tansu 0.6.0) answers ListOffsets(latest) with the newest batch's base offset + 1, short of
the end whenever that batch holds several records (streaming-notes §5.4); Faust takes that answer as a
changelog's end, so recovery stopped short (the memory store came back with older values, RocksDB crash-looped
on a persisted offset "past the end"). A Fetch answers every partition with its high watermark, right on both
brokers; on Apache Kafka the two agree, so taking the larger of the two changes nothing there.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from aiokafka.protocol.fetch import FetchRequest
from aiokafka.structs import TopicPartition

log = logging.getLogger("streams.app")

#: Bytes asked per partition: the answer's high watermark is what counts, not the records.
_FETCH_BYTES = 1
#: Tansu answers a Fetch with no wait at all with no partitions; a few milliseconds is enough (it holds a fetch
#: at the end of a partition for the whole wait, Kafka answers at once with min_bytes 0).
_FETCH_WAIT_MS = 5
_READ_UNCOMMITTED = 0


async def fetched_high_watermarks(client: Any, listed: Mapping[Any, int | None]) -> dict[Any, int | None]:
    """``listed`` (ListOffsets' end per partition) raised to each partition's high watermark from one Fetch per
    leader, asked at the listed offset with no wait. A partition whose Fetch fails keeps its listed value."""
    by_leader: dict[int, list[Any]] = defaultdict(list)
    for tp in listed:
        leader = client.cluster.leader_for_partition(TopicPartition(tp.topic, tp.partition))
        if leader is None or leader < 0:
            continue
        by_leader[leader].append(tp)
    result = dict(listed)
    for leader, tps in by_leader.items():
        topics: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for tp in tps:
            topics[tp.topic].append((tp.partition, max(0, listed[tp] or 0), _FETCH_BYTES))
        request = FetchRequest(_FETCH_WAIT_MS, 0, _FETCH_BYTES, _READ_UNCOMMITTED, list(topics.items()))
        try:
            response = await client.send(leader, request)
        except Exception as exc:
            log.warning("could not confirm the end offsets of %d partitions: %s", len(tps), exc)
            continue
        wanted = {(tp.topic, tp.partition): tp for tp in tps}
        for topic, partitions in response.topics:
            for partition, error_code, high_watermark, *_ in partitions:
                tp = wanted.pop((topic, partition), None)
                if tp is None or error_code != 0 or high_watermark is None or high_watermark < 0:
                    continue
                result[tp] = max(result[tp] or 0, high_watermark)
        if wanted:
            log.warning(
                "no high watermark in the fetch answer for %d partitions: kept their listed end", len(wanted)
            )
    return result
