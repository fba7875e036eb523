"""Log lines as JSON objects, one a line, for collectors that parse them (`serve
--log-format json`): time (UTC, ISO 8601), level, logger, message, and the exception's
traceback as one field when there is one. Control characters are escaped by JSON itself."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone


def utc_time(created: float) -> str:
    """A log time stamp: 2026-12-03T02:45:36.123Z."""
    stamp = datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


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
