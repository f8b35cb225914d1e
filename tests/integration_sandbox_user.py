"""A demo person opening links on the sandbox LMS's course pages, in a browser."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from tests.integration_http import (
    Browser,
    Form,
    Page,
    auth_url_from_login,
    read_page,
    submit,
)


@dataclass
class Launch:
    """The id_token form the sandbox posted, and the tool's answer to it."""

    form: Form
    response: requests.Response

    @property
    def id_token(self) -> str:
        return self.form.values["id_token"]

    @property
    def state(self) -> str:
        return self.form.values["state"]


class SandboxUser:
    """One demo person ("learner" or "coordinator") in their own browser."""

    def __init__(
        self,
        sandbox_url: str,
        tool_url: str,
        person: str,
        browser: Browser | None = None,
    ) -> None:
        self.sandbox_url = sandbox_url
        self.tool_url = tool_url
        self.person = person
        self.browser = browser or Browser()
        self.login_page: Page | None = None
        self.login_statuses: list[int] = []

    def login_form(self, course: str, link: str, *, storage: bool) -> Form:
        """The sandbox's launch page for a link: its login-initiation form."""
        response = self.browser.get(
            f"{self.sandbox_url}/courses/{course}/links/{link}/launch",
            params={"user": self.person, "storage": "1" if storage else "0"},
        )
        assert response.status_code == 200, response.text
        form = read_page(response).only_form()
        assert form.action == self.tool_url + "/lti/login"
        return form

    def authorize(self, course: str, link: str, *, storage: bool = False) -> Form:
        """Login at the tool, then the sandbox's auth endpoint: its id_token form."""
        login = submit(self.browser, self.login_form(course, link, storage=storage))
        self.login_statuses.append(login.status_code)
        if login.status_code == 200:
            self.login_page = read_page(login)
        auth = self.browser.get(auth_url_from_login(self.browser, login))
        assert auth.status_code == 200, auth.text
        form = read_page(auth).only_form()
        assert form.action == self.tool_url + "/lti/launch"
        return form

    def launch(self, course: str, link: str, *, storage: bool = False) -> Launch:
        form = self.authorize(course, link, storage=storage)
        return Launch(form, submit(self.browser, form))

    def land(self, course: str, link: str) -> Page:
        """Launch and follow the tool's redirect to its landing page."""
        return self.follow_launch(self.launch(course, link).response)

    def follow_launch(self, response: requests.Response) -> Page:
        """Check the tool's 303 to its landing page, then open that page."""
        assert response.status_code == 303, response.text
        assert response.headers["Location"].startswith("/program?ls=")
        landing = self.browser.follow(response)
        assert landing.status_code == 200, landing.text
        return read_page(landing)
