"""The tool and a configurable sandbox LMS over real HTTP, and a person using them.

Like tests/live.py, with sandbox options (roster size, fault injection) and a
small browser that launches links, opens the picker and posts forms.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from flask import Flask
from werkzeug.serving import make_server

from lti_tool import create_app
from lti_tool.devserver import register_sandbox
from lti_tool.sandbox import SandboxConfig, create_sandbox_app
from lti_tool.sandbox.gradebook import GradeBook
from tests.live import free_port

TIMEOUT_SECONDS = 10


@contextmanager
def _serving(app: Any, port: int) -> Iterator[None]:
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(timeout=5)


@dataclass
class Services:
    tool_url: str
    sandbox_url: str
    tool_app: Flask
    sandbox_app: Flask
    sandbox: SandboxConfig

    @property
    def book(self) -> GradeBook:
        book: GradeBook = self.sandbox_app.extensions["lti_sandbox"].book
        return book


@contextmanager
def tool_and_sandbox(
    database_url: str,
    keys_dir: Path,
    tmp_path: Path,
    tool_settings: dict[str, Any] | None = None,
    **sandbox_options: Any,
) -> Iterator[Services]:
    """Both servers on free loopback ports, the sandbox registered with the tool."""
    tool_port, sandbox_port = free_port(), free_port()
    tool_url = f"http://localhost:{tool_port}"
    sandbox = SandboxConfig(
        base_url=f"http://127.0.0.1:{sandbox_port}",
        tool_url=tool_url,
        key_path=tmp_path / "sandbox-platform.pem",
        **sandbox_options,
    )
    register_sandbox(database_url, sandbox)
    tool_app = create_app(
        {
            "database_url": database_url,
            "keys_dir": keys_dir,
            "base_url": tool_url,
            "secret_key": "services-test-secret",
            "redis_url": "",
            # The sandbox's services answer on loopback, as in `lti-tool dev`.
            "registration_allow_private": True,
            **(tool_settings or {}),
        }
    )
    sandbox_app = create_sandbox_app(sandbox)
    with _serving(tool_app, tool_port), _serving(sandbox_app, sandbox_port):
        yield Services(tool_url, sandbox.base_url, tool_app, sandbox_app, sandbox)


@dataclass
class Form:
    action: str
    fields: dict[str, str]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(values.get("action", ""), {}))
        elif tag == "input" and self.forms and values.get("name"):
            if values.get("type") in ("checkbox", "radio"):
                return
            self.forms[-1].fields[values["name"]] = values.get("value", "")


def forms_of(response: requests.Response) -> list[Form]:
    parser = _FormParser()
    parser.feed(response.text)
    for form in parser.forms:
        form.action = urljoin(response.url, form.action)
    return parser.forms


class Person:
    """A demo person launching from the sandbox without JavaScript or a cookie jar.

    Cookies are carried by hand: `requests` keeps the tool's Secure cookies but
    would not send them to http://localhost, which browsers treat as secure.
    """

    def __init__(self, services: Services, key: str) -> None:
        self.services = services
        self.key = key
        self.http = requests.Session()
        self.http.trust_env = False

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.http.get(
            url, timeout=TIMEOUT_SECONDS, allow_redirects=False, **kwargs
        )

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.http.post(
            url, timeout=TIMEOUT_SECONDS, allow_redirects=False, **kwargs
        )

    def launch(self, course: str, link: str) -> requests.Response:
        """Open a course link; the tool's answer to the launch (a 303)."""
        page = self.get(
            f"{self.services.sandbox_url}/courses/{course}/links/{link}/launch",
            params={"user": self.key, "storage": "0"},
        )
        return self._login_and_launch(page)

    def add_content(self, course: str, style: str = "moodle") -> requests.Response:
        """Open the sandbox's "Add content" picker: the tool's answer (a 303)."""
        page = self.get(
            f"{self.services.sandbox_url}/courses/{course}/deep-linking/launch",
            params={"user": self.key, "style": style},
        )
        return self._login_and_launch(page)

    def follow(self, response: requests.Response) -> requests.Response:
        assert response.status_code in (302, 303), response.text
        return self.get(urljoin(response.url, response.headers["Location"]))

    def _login_and_launch(self, page: requests.Response) -> requests.Response:
        assert page.status_code == 200, page.text
        (login_form,) = forms_of(page)
        fields = {
            k: v for k, v in login_form.fields.items() if k != "lti_storage_target"
        }
        login = self.post(login_form.action, data={**fields, "new_window": "1"})
        assert login.status_code == 302, login.text
        cookies = "; ".join(f"{c.name}={c.value}" for c in login.cookies)
        auth = self.get(login.headers["Location"])
        assert auth.status_code == 200, auth.text
        (launch_form,) = forms_of(auth)
        return self.post(
            launch_form.action,
            data=launch_form.fields,
            headers={"Cookie": cookies},
        )
