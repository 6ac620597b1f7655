"""The worker's consumer sends the configured fetch wait, not Faust's fixed 1.5 s: on Tansu, which holds every
fetch for the whole wait, that wait is added to each hop between raw and alert (bench/pipeline.py measures it)."""

from __future__ import annotations

from streams.app import create_app
from streams.broker import EmbeddedBroker
from streams.settings import Settings


async def test_the_worker_consumer_fetches_with_the_configured_wait(broker: EmbeddedBroker) -> None:
    app = create_app(Settings(broker_url=broker.url, consumer_fetch_max_wait=0.05))
    consumer = app.consumer._thread._create_worker_consumer(app.transport)  # what a worker starts with
    await consumer.start()
    try:
        assert consumer._fetcher._fetch_max_wait_ms == 50  # what every FetchRequest carries
    finally:
        await consumer.stop()


def test_the_default_wait_is_short() -> None:
    assert Settings().consumer_fetch_max_wait <= 0.1
