"""Authorised calls to a platform's services, with one retry on a refused token."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn

import requests

from lti_tool.lti.outbound import OutboundPolicy, UnsafeUrl, guarded_session
from lti_tool.services.errors import (
    PlatformServiceError,
    from_exception,
    from_response,
    refused_address,
    refused_redirect,
    refused_url,
)
from lti_tool.services.token import AccessTokens, ServiceAccount

log = logging.getLogger(__name__)

# Bounds a roster or line-item listing that pages forever (or in a loop).
MAX_PAGES = 500
SERVICE_NAMES = {"ags": "grade service", "nrps": "roster service"}

_LINK_PART = re.compile(r"<([^>]*)>\s*((?:;[^,<]*)*)")
_REL = re.compile(r""";\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""", re.IGNORECASE)


def service_session(settings: Any) -> requests.Session:
    """The session for platform services: every connection's address checked.

    Loopback and private addresses only when `registration_allow_private` (the
    sandbox, an intranet LMS); link-local (cloud metadata) never.
    """
    policy = OutboundPolicy(allow_private=settings.registration_allow_private)
    return guarded_session(settings.http_timeout_seconds, policy)


def next_page_url(link_header: str | None) -> str | None:
    """The `rel="next"` URL of a Link header, exactly as written (RFC 8288).

    Relation names compare case-insensitively and may be quoted or not, and one
    link may carry several ("next last"); the URL keeps its own case.
    """
    for match in _LINK_PART.finditer(link_header or ""):
        for rel in _REL.finditer(match.group(2)):
            names = (rel.group(1) or rel.group(2) or "").lower().split()
            if "next" in names:
                return match.group(1).strip()
    return None


class ServiceClient:
    """Sends requests with a bearer token for one registration and scope set."""

    def __init__(
        self,
        tokens: AccessTokens,
        http: requests.Session,
        account: ServiceAccount,
        scopes: Iterable[str],
        service: str,
    ) -> None:
        self._tokens = tokens
        self._http = http
        self.account = account
        self.scopes = tuple(sorted(set(scopes)))
        self._service = service
        self._name = SERVICE_NAMES.get(service, service)

    def request(
        self,
        method: str,
        url: str,
        *,
        accept: str,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """The platform's 2xx answer, or PlatformServiceError.

        A 401 is answered once with a freshly fetched token: the cached one may
        have been revoked. A second 401 on a fresh token usually means a web
        server in front of the platform drops the Authorization header.
        """
        # The URL came from a launch claim or a Link header: only the platform's
        # own hosts get the token (checked before one is even fetched).
        if not self.account.allows(url):
            self._refuse(refused_url(url, self._name))
        extra = {**(headers or {}), "Accept": accept}
        token = self._tokens.get(self.account, self.scopes)
        response = self._send(method, url, token, extra, kwargs)
        if response.status_code == 401:
            self._tokens.discard(self.account, self.scopes, token)
            token = self._tokens.get(self.account, self.scopes)
            response = self._send(method, url, token, extra, kwargs)
            if response.status_code == 401:
                raise self._failure(
                    response,
                    token,
                    "the platform refused a fresh access token; its web server "
                    "may be dropping the Authorization header",
                )
        if not response.ok:
            raise self._failure(
                response, token, f"the {self._name} refused the request"
            )
        return response

    def pages(self, url: str, *, accept: str) -> Iterator[requests.Response]:
        """Each page of a listing, following `rel="next"` until there is none."""
        seen: set[str] = set()
        next_url: str | None = url
        while next_url and next_url not in seen and len(seen) < MAX_PAGES:
            seen.add(next_url)
            response = self.request("GET", next_url, accept=accept)
            yield response
            next_url = next_page_url(response.headers.get("Link"))

    def _send(
        self,
        method: str,
        url: str,
        token: str,
        headers: dict[str, str],
        kwargs: dict[str, Any],
    ) -> requests.Response:
        # Redirects are not followed: each hop would be a URL nobody checked.
        headers = {**headers, "Authorization": f"Bearer {token}"}
        try:
            response = self._http.request(
                method, url, headers=headers, allow_redirects=False, **kwargs
            )
        except UnsafeUrl:
            self._refuse(refused_address(url, self._name))
        except requests.RequestException as error:
            failure = from_exception(error, url, f"the {self._name} failed")
            self._log(failure)
            raise failure from None
        if response.is_redirect or 300 <= response.status_code < 400:
            self._refuse(refused_redirect(response, self._name))
        return response

    def _refuse(self, failure: PlatformServiceError) -> NoReturn:
        self._log(failure)
        raise failure

    def _failure(
        self, response: requests.Response, token: str, message: str
    ) -> PlatformServiceError:
        failure = from_response(response, message, secrets=(token,))
        self._log(failure)
        return failure

    def _log(self, failure: PlatformServiceError) -> None:
        log.warning(
            "platform service failing service=%s registration=%s status=%s url=%s",
            self._service,
            self.account.registration_id,
            failure.status,
            failure.url,
        )
