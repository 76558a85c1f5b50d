"""Structured logging: JSON lines (one object per record) or a readable console format."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

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


# Personal identifiers (Decree 13/2023/NĐ-CP): log lines must not hold them. The hub logs
# ids, kinds and error codes, never package content; this filter is the second line of
# defence for what slips through (an error message quoting a field, an adapter's exception).
# Digit runs are matched only as whole tokens (no letter, digit, dot, dash or underscore
# around them), so OrganIds (000.00.00.G22), hashes, UUIDs and times are left alone.
_EDGE_L = r"(?<![\w.\-/:])"
_EDGE_R = r"(?![\w\-/:]|\.\d)"
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"), "[email]"),
    # CCCD: 12 digits; CMND: 9 digits
    (re.compile(_EDGE_L + r"\d{12}" + _EDGE_R), "[cccd]"),
    (re.compile(_EDGE_L + r"\d{9}" + _EDGE_R), "[cmnd]"),
    # Vietnamese phone numbers: 0 or +84/84, then 9 digits, optionally grouped by spaces,
    # dots or dashes (0912 345 678, +84 912.345.678); landlines 02x + 8 digits likewise.
    (
        re.compile(_EDGE_L + r"(?:\+84|84|0)[\s.\-]?\d{2,3}(?:[\s.\-]?\d{3}){2}\d?" + _EDGE_R),
        "[phone]",
    ),
)


def url_origin(url: str) -> str:
    """Only the scheme, host and port of ``url``, for logs and error messages.

    For URLs whose other parts may be credentials: a webhook's path is often the secret
    itself (Slack, Teams and Mattermost ``.../hooks/<secret>``), and ``user:password@`` or a
    ``?token=`` are common on internal endpoints. The masking of the broker and store URLs
    (``mask_url``, ``mask_dsn``) keeps the path, which is fine for a vhost or a database name
    but not here.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not host:
        return "<unparseable URL>"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def redact(text: str) -> str:
    """``text`` with citizen identifiers, phone numbers and e-mail addresses replaced."""
    for pattern, label in _REDACTIONS:
        text = pattern.sub(label, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    return value


def redact_personal_data(record: logging.LogRecord) -> bool:
    """Handler filter: redact the message (after %-formatting) and every ``extra`` field.
    Numbers stay numbers (sizes, counts); identifiers are strings (they keep leading zeros)."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: log what was given rather than nothing
        message = str(record.msg)
    record.msg, record.args = redact(message), None
    for key, value in list(vars(record).items()):
        if key not in _STANDARD and not key.startswith("_"):
            setattr(record, key, _redact_value(value))
    if record.exc_info:
        # Exception texts quote input too: format here, redacted, and drop exc_info so
        # formatters use the redacted text (they print exc_text when exc_info is absent).
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    elif record.exc_text:  # formatted (and cached) by a handler that ran before this one
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return True


def add_hub_filters(handler: logging.Handler) -> logging.Handler:
    """Every filter the hub's log handlers carry (package id, personal-data redaction)."""
    handler.addFilter(_with_package_id)
    handler.addFilter(redact_personal_data)
    return handler


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
        elif record.exc_text:
            body["exception"] = record.exc_text
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
    add_hub_filters(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
