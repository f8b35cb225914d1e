"""What a failed call to a platform service leaves behind for logs and people."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

ANSWER_LIMIT = 500


class PlatformServiceError(Exception):
    """A platform service call failed; keeps the status, URL and the answer.

    `status` is None when no answer came (timeout, refused connection). The
    answer is shortened and never holds a token; it is shown to coordinators
    but never to participants.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        answer: str = "",
        retry_after: float | None = None,
        transient: bool | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.answer = answer
        self.retry_after = retry_after
        self._transient = transient
        self._reason = reason

    @property
    def reason(self) -> str:
        """A short code for people who must not see the platform's own words."""
        if self._reason:
            return self._reason
        return "no_answer" if self.status is None else "platform_refused"

    @property
    def is_transient(self) -> bool:
        """Worth retrying later: no answer, throttled, or a server-side failure."""
        if self._transient is not None:
            return self._transient
        return self.status is None or self.status in (408, 429) or self.status >= 500

    def summary(self) -> str:
        """The reason code and HTTP status only: no URL, no body from the host."""
        status = f", HTTP {self.status}" if self.status is not None else ""
        return f"reason code {self.reason}{status}"

    def describe(self) -> str:
        """One line for a coordinator: what happened and what the platform said."""
        if self.status is None:
            return str(self)
        answer = f": {self.answer}" if self.answer else ""
        return f"{self} (HTTP {self.status}{answer})"


def from_response(
    response: requests.Response, message: str, secrets: Iterable[str] = ()
) -> PlatformServiceError:
    """The error for a refused call, with the platform's answer made presentable."""
    return PlatformServiceError(
        message,
        url=response.url,
        status=response.status_code,
        answer=platform_answer(response, secrets),
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def from_exception(
    error: requests.RequestException, url: str, message: str
) -> PlatformServiceError:
    """The error for a call that got no answer at all."""
    timed_out = isinstance(error, requests.Timeout)
    kind = "timed out" if timed_out else "unreachable"
    return PlatformServiceError(
        f"{message}: the platform {kind}",
        url=url,
        reason="timeout" if timed_out else "unreachable",
    )


def refused_url(url: str, service: str) -> PlatformServiceError:
    """A service URL on a host that is not the platform's: never requested."""
    return PlatformServiceError(
        f"the {service} URL is not on the platform's host, so it was not called",
        url=url,
        transient=False,
        reason="host_refused",
    )


def refused_address(url: str, service: str) -> PlatformServiceError:
    """A service host that resolved or connected to a private address."""
    return PlatformServiceError(
        f"the {service} host is on a private or reserved network",
        url=url,
        transient=False,
        reason="address_refused",
    )


def refused_redirect(response: requests.Response, service: str) -> PlatformServiceError:
    """A redirect from a service: each hop would be a URL nobody checked."""
    return PlatformServiceError(
        f"the {service} answered with a redirect, which is not followed",
        url=response.url,
        status=response.status_code,
        transient=False,
        reason="redirect_refused",
    )


def platform_answer(response: requests.Response, secrets: Iterable[str] = ()) -> str:
    """The readable part of an error body: Canvas, OAuth and IMS shapes, else text."""
    text = response.text or ""
    try:
        body = json.loads(text)
    except ValueError:
        answer = " ".join(text.split())
    else:
        answer = _message_of(body) or " ".join(text.split())
    for secret in secrets:
        if secret:
            answer = answer.replace(secret, "[redacted]")
    return answer[:ANSWER_LIMIT]


def _message_of(body: object) -> str:
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors")
    if isinstance(errors, dict):
        return str(errors.get("message") or errors.get("type") or "")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return "; ".join(str(e.get("message", "")) for e in errors[:3])
    if "error" in body:
        description = body.get("error_description")
        return f"{body['error']}: {description}" if description else str(body["error"])
    for key in ("message", "reason", "detail"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return ""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - (now or datetime.now(UTC))).total_seconds(), 0.0)
