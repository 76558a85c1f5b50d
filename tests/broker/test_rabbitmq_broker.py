"""RabbitBroker: the same broker contract against a real RabbitMQ, plus RabbitMQ specifics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest

from hub.broker.abc import Broker, QueueEntry
from hub.broker.rabbitmq import RabbitBroker, mask_url
from hub.errors import Unavailable
from tests.broker.rabbit_fixtures import rabbit_url, rabbit_vhost  # noqa: F401  (fixtures)
from tests.contracts.broker_contract import (
    G22,
    H29,
    H41,
    Advance,
    BrokerContract,
    Collector,
    entries,
)

pytestmark = pytest.mark.services


def make_rabbit(url: str, prefix: str, **kwargs: object) -> RabbitBroker:
    options: dict[str, object] = {
        "prefix": prefix,
        "retry_delays": BrokerContract.RETRY_DELAYS,
        "lease_seconds": BrokerContract.LEASE_SECONDS,
        "agencies": (G22, H29, H41),
    }
    options.update(kwargs)
    return RabbitBroker(url, **options)  # type: ignore[arg-type]


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


class TestRabbitBroker(BrokerContract):
    @pytest.fixture
    def broker_factory(self, rabbit_url: str) -> Callable[[], Broker]:  # noqa: F811
        prefix = unique_prefix()  # one topology per test, in the module's vhost
        return lambda: make_rabbit(rabbit_url, prefix)

    @pytest.fixture
    def advance(self) -> Advance:
        return asyncio.sleep  # RabbitMQ's TTLs run on the wall clock
