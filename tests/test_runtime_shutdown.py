"""Stopping a hub is bounded in time: a part that never finishes closing cannot keep the
process (a hub, the demo, a test) alive."""

from __future__ import annotations

import asyncio

import pytest

from hub import runtime as runtime_module
from hub.config import load_config
from hub.demo.workdir import Workdir
from hub.runtime import Runtime


async def test_a_part_that_never_closes_does_not_hold_the_shutdown(
    workdir: Workdir, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runtime_module, "SHUTDOWN_SECONDS", 0.2)
    never = asyncio.Event()
    async with Runtime(load_config(workdir.config_dir)) as runtime:
        runtime._stack.push_async_callback(never.wait)  # a close that never returns
    assert not never.is_set()
    assert "shutdown did not finish" in caplog.text
    # What the bounded shutdown abandoned is still on the stack (the process would exit
    # here); close it for the rest of the test session.
    await runtime._stack.aclose()
