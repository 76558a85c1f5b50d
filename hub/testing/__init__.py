"""Test kit for adapter authors: the shared contract suite, signing helpers, sample records.

::

    from hub.testing import AdapterContract

    class TestMyAdapter(AdapterContract):
        async def open_adapter(self, data_dir): ...   # a started adapter on a fresh system
        def valid_records(self): ...
        def invalid_records(self): ...
        async def add_native(self, adapter, record): ...

Every test of :class:`AdapterContract` then runs against the adapter (pytest collects the
subclass; ``pytest-asyncio`` in auto mode runs the async tests).
"""

from hub.testing.contract import AdapterContract
from hub.testing.helpers import (
    TestIdentity,
    sample_ho_so,
    sample_tien_do,
    sign_and_verify,
    test_identity,
)

__all__ = [
    "AdapterContract",
    "TestIdentity",
    "sample_ho_so",
    "sample_tien_do",
    "sign_and_verify",
    "test_identity",
]
