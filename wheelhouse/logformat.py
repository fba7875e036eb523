"""Log lines as JSON objects, one a line, for collectors that parse them (`serve
--log-format json`): time (UTC, ISO 8601), level, logger, message, and the exception's
traceback as one field when there is one. Control characters are escaped by JSON itself."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def utc_time(created: float) -> str:
    """A log time stamp: 2026-12-03T02:45:36.123Z (the second's text made once a second)."""
    whole = int(created)
    if _second[0] != whole:
        text = datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        _second[:] = [whole, text]
    return f"{_second[1]}.{int((created - whole) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """Each record as one JSON object (non-ASCII escaped too: the line stays ASCII)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": utc_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc)
