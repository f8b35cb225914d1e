"""The one HTTP session for talking to platforms: always a timeout, always a UA."""

from __future__ import annotations

from typing import Any

import requests

USER_AGENT = "peer-support-lti-tool/0.1 (+LTI 1.3 tool)"


class PlatformSession(requests.Session):
    """A requests session whose every call has a timeout unless one is given."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout
        # Moodle and Canvas both refuse or throttle requests without a User-Agent.
        self.headers["User-Agent"] = USER_AGENT

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)
