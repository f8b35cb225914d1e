"""A cookie-keeping HTTP client that walks LTI pages like a browser without JS.

Each `requests.Session` made here is one simulated browser. It reads the forms
and `data-*` attributes that the tool's and the platforms' pages carry, and does
by hand what their scripts would do: submit the auto-submitting form, follow the
cookie-probe page to its auth URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urljoin, urlsplit

import requests
from requests.cookies import get_cookie_header

# Browsers treat http://localhost and loopback addresses as secure contexts, so
# they keep and send Secure cookies there; Python's cookie jar does not.
LOOPBACK_HOSTS = {"localhost", "127.0.0.1"}
# Every HTTP call in these tests is bounded; a hung server fails the test.
TIMEOUT_SECONDS = 10


class LoopbackIsSecurePolicy(DefaultCookiePolicy):
    """Send Secure cookies to loopback hosts over plain HTTP, as Chromium does."""

    def return_ok_secure(self, cookie, request):  # type: ignore[no-untyped-def]
        host = urlsplit(request.get_full_url()).hostname or ""
        if cookie.secure and host in LOOPBACK_HOSTS:
            return True
        return super().return_ok_secure(cookie, request)


class Browser(requests.Session):
    """One browser: its own cookie jar, no proxies, a timeout on every request."""

    def __init__(self, *, blocked_cookie_hosts: tuple[str, ...] = ()) -> None:
        super().__init__()
        # Never route through a proxy from the environment: loopback traffic only.
        self.trust_env = False
        # The jar names a dotless host "<host>.local"; block both spellings, like
        # a browser that refuses third-party cookies from that site.
        blocked = [
            f"{host}{suffix}"
            for host in blocked_cookie_hosts
            for suffix in ("", ".local")
        ]
        self.cookies.set_policy(LoopbackIsSecurePolicy(blocked_domains=blocked))

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        # Redirects are followed step by step by the tests (see `follow`), so each
        # hop's status and headers can be checked.
        kwargs["allow_redirects"] = False
        kwargs.setdefault("timeout", TIMEOUT_SECONDS)
        return super().request(method, url, *args, **kwargs)

    def prepare_request(self, request):  # type: ignore[no-untyped-def]
        # requests copies the jar into one with the default policy before it
        # builds the Cookie header; build it from our own jar and policy instead.
        prepared = super().prepare_request(request)
        prepared.headers.pop("Cookie", None)
        header = get_cookie_header(self.cookies, prepared)
        if header:
            prepared.headers["Cookie"] = header
        return prepared

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def,override]
        host = urlsplit(str(request.url)).hostname or ""
        if host not in LOOPBACK_HOSTS:
            raise AssertionError(f"test browser refused a non-loopback URL: {host}")
        return super().send(request, **kwargs)

    def follow(self, response: requests.Response) -> requests.Response:
        """GET the Location of a redirect, resolved against the URL it came from."""
        assert response.is_redirect, response.status_code
        return self.get(urljoin(response.url, response.headers["Location"]))

    def has_cookie(self, name: str) -> bool:
        return any(cookie.name == name for cookie in self.cookies)

    def drop_cookies(self, prefix: str) -> int:
        """Forget every cookie whose name starts with `prefix`; returns how many."""
        doomed = [c for c in self.cookies if c.name.startswith(prefix)]
        for cookie in doomed:
            self.cookies.clear(cookie.domain, cookie.path, cookie.name)
        return len(doomed)


@dataclass
class Form:
    """A form as the page wrote it, with its action resolved against the page URL."""

    action: str
    method: str
    attrs: dict[str, str]
    fields: list[tuple[str, str]] = field(default_factory=list)
    choices: dict[str, list[str]] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, str]:
        return dict(self.fields)


class _PageParser(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self.elements: dict[str, dict[str, str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # HTMLParser has already turned &amp; and friends back into characters.
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.elements[attributes["id"]] = attributes
        if tag == "form":
            action = urljoin(self.page_url, attributes.get("action", ""))
            method = attributes.get("method", "get").upper()
            self.forms.append(Form(action, method, attributes))
        elif tag == "input" and self.forms and attributes.get("name"):
            name = attributes["name"]
            if attributes.get("type") in {"radio", "checkbox"}:
                self.forms[-1].choices.setdefault(name, []).append(
                    attributes.get("value", "")
                )
            else:
                self.forms[-1].fields.append((name, attributes.get("value", "")))


@dataclass
class Page:
    """An HTML page's text, its forms and its elements that have an id."""

    text: str
    forms: list[Form]
    elements: dict[str, dict[str, str]]

    def only_form(self) -> Form:
        assert len(self.forms) == 1, f"expected one form, found {len(self.forms)}"
        return self.forms[0]


def parse_html(text: str, url: str) -> tuple[list[Form], dict[str, dict[str, str]]]:
    """The forms of a page and its elements that have an id."""
    parser = _PageParser(url)
    parser.feed(text)
    parser.close()
    return parser.forms, parser.elements


def read_page(response: requests.Response) -> Page:
    forms, elements = parse_html(response.text, response.url)
    return Page(response.text, forms, elements)


def submit(
    browser: Browser,
    form: Form,
    *,
    to: str | None = None,
    headers: dict[str, str] | None = None,
    **overrides: str,
) -> requests.Response:
    """Send the form as the browser would, with some fields replaced or added.

    `to` sends it to another URL than the form's action, as a load balancer
    would pick another server for the same public address.
    """
    data = {**form.values, **overrides}
    url = to or form.action
    if form.method == "POST":
        return browser.post(url, data=data, headers=headers)
    return browser.get(url, params=data, headers=headers)


def auth_url_from_login(browser: Browser, response: requests.Response) -> str:
    """Where the tool's login sends the browser: a redirect or the probe page's URL.

    In cookie mode the page's script continues only when its probe cookie
    survived; this checks the same thing in the cookie jar. In storage mode the
    script first hands the browser secret to the platform, which a test does
    itself with the page's `data-browser-secret`.
    """
    if response.status_code in (302, 303):
        return response.headers["Location"]
    assert response.status_code == 200, response.text
    login = read_page(response).elements["lti-login"]
    if login["data-mode"] == "cookie":
        assert browser.has_cookie("lti_cookie_probe"), "the probe cookie was lost"
    return login["data-auth-url"]
