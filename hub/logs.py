"""Structured logging: JSON lines (one object per record) or a readable console format."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

#: attributes every LogRecord has; anything else was passed with ``extra=`` and is logged
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

#: the package the current task works on; every log line written meanwhile carries its id
PACKAGE_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "hub_package_id", default=None
)


@contextlib.contextmanager
def package_context(package_id: str) -> Iterator[None]:
    """Tag every log line written inside the block (in this task) with ``package_id``."""
    token = PACKAGE_ID.set(package_id)
    try:
        yield
    finally:
        PACKAGE_ID.reset(token)


def _with_package_id(record: logging.LogRecord) -> bool:
    """Handler filter: add the current package id unless the call passed one."""
    if not hasattr(record, "package_id"):
        package_id = PACKAGE_ID.get()
        if package_id is not None:
            record.package_id = package_id
    return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False, default=str)


class KeyValueFormatter(logging.Formatter):
    """``time level logger message key=value …`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}"
            for k, v in vars(record).items()
            if k not in _STANDARD and not k.startswith("_")
        )
        base = super().format(record)
        return f"{base} {extras}" if extras else base


def setup_logging(level: str = "INFO", *, json_format: bool = False) -> None:
    """Configure the root logger once for the process."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if json_format
        else KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    handler.addFilter(_with_package_id)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
