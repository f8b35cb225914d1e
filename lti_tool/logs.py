"""Logging set-up: one line per event, key=value, nothing personal.

Launch session tokens travel in URLs (cookies are unreliable inside LMS iframes),
so the request log line is scrubbed of them before it is written.
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN_PATTERN = re.compile(r"([?&](?:ls|id_token|state|browser_secret)=)[^&\s\"]+")


class ScrubTokens(logging.Filter):
    """Replace session tokens and id_tokens in any log line with `***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = _TOKEN_PATTERN.sub(r"\1***", message)
        # One event, one line: values from requests cannot forge extra lines.
        scrubbed = _CONTROL.sub("?", scrubbed)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def configure_logging(level: str) -> None:
    """Set up the root logger once; later calls only adjust the level."""
    root = logging.getLogger()
    if not any(isinstance(f, ScrubTokens) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
        handler.addFilter(ScrubTokens())
        root.addHandler(handler)
        # Werkzeug's development server logs each request line with its query.
        logging.getLogger("werkzeug").addFilter(ScrubTokens())
        logging.getLogger("gunicorn.access").addFilter(ScrubTokens())
    root.setLevel(level.upper())
