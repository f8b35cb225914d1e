"""Login on one gunicorn process, launch on another: only shared state survives.

Behind a load balancer the OIDC login and the launch that follows are two
requests that may reach different processes or hosts. These tests start real
gunicorn servers on loopback ports, sharing the test database, and send the two
halves of a launch to different ones.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask, jsonify
from sqlalchemy import Engine, func, select

from lti_tool.db import session_scope
from lti_tool.devserver import register_sandbox
from lti_tool.models import LaunchSession, Membership, ResourceLink
from lti_tool.registrations import RegistrationInput, save_registration
from lti_tool.sandbox import SandboxConfig, create_sandbox_app
from lti_tool.settings import PROJECT_ROOT
from tests.integration_http import Browser, Page, read_page, submit
from tests.integration_sandbox_user import SandboxUser
from tests.live import free_port, serving
from tests.platform import SigningPlatform, auth_request_params

pytestmark = pytest.mark.slow

GUNICORN = Path(sys.executable).with_name("gunicorn")
READY_WITHIN_SECONDS = 15
PSS_TITLE = "Medi-Cal Peer Support Specialist Training"
PCFM_TITLE = "Parent, Caregiver, and Family Member Peer Specialization"
# Environment that could point the servers elsewhere than the test database or
# make their outgoing requests leave the machine through a proxy.
_DROPPED_ENV = {"DATABASE_URL", "REDIS_URL", "LTI_TOOL_CONFIG"}
_PROXY_ENV = {"http_proxy", "https_proxy", "all_proxy"}


@dataclass
class Server:
    """One gunicorn master on a loopback port, and its access log."""

    port: int
    process: subprocess.Popen[bytes]
    access_log: Path
    error_log: Path

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def worker_pids(self, path: str, count: int) -> list[int]:
        """The pids that served the first `count` requests for `path`."""
        deadline = time.monotonic() + 5
        # gunicorn logs a request just after answering it: wait for the lines.
        while len(pids := self.logged(path)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return pids[:count]

    def logged(self, path: str) -> list[int]:
        """The pids of the worker that served each logged request for `path`."""
        if not self.access_log.exists():
            return []
        # Lines look like "<1234> POST /lti/login 200".
        return [
            int(line.split()[0].strip("<>"))
            for line in self.access_log.read_text().splitlines()
            if line and line.split()[2] == path
        ]


@dataclass
class Cluster:
    """How the servers are started: the same settings for every one of them."""

    database_url: str
    keys_dir: Path
    tmp_path: Path
    redis_url: str = ""

    def environment(self, base_url: str) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in _DROPPED_ENV
            and name.lower() not in _PROXY_ENV
            and not name.startswith("LTI_TOOL_")
        }
        env.update(
            {
                "LTI_TOOL_DATABASE_URL": self.database_url,
                "LTI_TOOL_KEYS_DIR": str(self.keys_dir),
                "LTI_TOOL_BASE_URL": base_url,
                "LTI_TOOL_SECRET_KEY": "x",
                "LTI_TOOL_REDIS_URL": self.redis_url,
                "LTI_TOOL_LOG_LEVEL": "WARNING",
                "NO_PROXY": "127.0.0.1,localhost",
            }
        )
        return env


def _start(
    cluster: Cluster, stack: ExitStack, base_url: str, workers: int, threads: int
) -> Server:
    """A master with the production settings; `threads` overrides theirs."""
    port = free_port()
    logs = cluster.tmp_path / f"gunicorn-{port}"
    access_log, error_log = logs.with_suffix(".access"), logs.with_suffix(".error")
    command = [
        str(GUNICORN),
        # The production settings (threaded workers, no control socket); the
        # flags below take precedence over the file's bind, workers and logs.
        "-c",
        str(PROJECT_ROOT / "config" / "gunicorn.conf.py"),
        "-w",
        str(workers),
        *_thread_flags(threads),
        "-b",
        f"127.0.0.1:{port}",
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        "%(p)s %(m)s %(U)s %(s)s",
        "--error-logfile",
        str(error_log),
        # The default control socket is one path per user: concurrent masters
        # (ours, and anyone else's) would take it from each other.
        "--no-control-socket",
        "lti_tool:create_app()",
    ]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=cluster.environment(base_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(_stop, process)
    server = Server(port, process, access_log, error_log)
    _wait_until_ready(server)
    return server


def _thread_flags(threads: int) -> list[str]:
    """0: the production file's threads; 1: a sync worker; more: that many."""
    if threads == 1:
        return ["--worker-class", "sync", "--threads", "1"]
    return ["--threads", str(threads)] if threads else []


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the one master this test started, by its pid; its workers go with it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    url = f"http://127.0.0.1:{server.port}/.well-known/jwks.json"
    probe = Browser()
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if probe.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            # Refused before the bind, or read timed out while a worker boots.
            pass
        time.sleep(0.1)
    errors = server.error_log.read_text() if server.error_log.exists() else ""
    raise AssertionError(f"gunicorn on port {server.port} not ready:\n{errors[-3000:]}")


StartServer = Callable[..., Server]


def _redis_url_for_tests() -> str:
    url = os.environ.get("LTI_TOOL_TEST_REDIS_URL", "")
    if not url:
        pytest.skip("LTI_TOOL_TEST_REDIS_URL not set (make test sets it)")
    host = urlsplit(url).hostname
    assert host in {"127.0.0.1", "localhost"}, "the test Redis must be on loopback"
    return url


@pytest.fixture(params=["database", "redis"])
def start_server(
    request: pytest.FixtureRequest,
    database_url: str,
    keys_dir: Path,
    tmp_path: Path,
) -> Iterator[StartServer]:
    """Start gunicorn servers sharing one database (and Redis, when asked)."""
    if not GUNICORN.exists():
        pytest.fail(f"gunicorn is not installed at {GUNICORN}")
    redis_url = _redis_url_for_tests() if request.param == "redis" else ""
    cluster = Cluster(database_url, keys_dir, tmp_path, redis_url)
    with ExitStack() as stack:

        def start(*, base_url: str, workers: int = 1, threads: int = 0) -> Server:
            return _start(cluster, stack, base_url, workers, threads)

        yield start


@contextmanager
def sandbox_for(
    database_url: str, tmp_path: Path, public_url: str
) -> Iterator[SandboxConfig]:
    """The sandbox LMS in a thread, registered with the tool at `public_url`."""
    port = free_port()
    config = SandboxConfig(
        base_url=f"http://127.0.0.1:{port}",
        tool_url=public_url,
        key_path=tmp_path / "sandbox-platform.pem",
    )
    register_sandbox(database_url, config)
    with serving(create_sandbox_app(config), port):
        yield config


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def test_login_on_one_server_and_launch_on_another_lands(
    start_server, database_url, tmp_path, engine
):
    public_url = f"http://localhost:{free_port()}"
    first = start_server(base_url=public_url)
    second = start_server(base_url=public_url)
    with sandbox_for(database_url, tmp_path, public_url) as sandbox:
        learner = SandboxUser(sandbox.base_url, public_url, "learner")
        login_form = learner.login_form("pss-cohort", "pss-program", storage=False)
        # The balancer sends the login to the first server...
        login = submit(learner.browser, login_form, to=first.url + "/lti/login")
        assert login.status_code == 200, login.text
        auth_url = read_page(login).elements["lti-login"]["data-auth-url"]
        id_token_form = read_page(learner.browser.get(auth_url)).only_form()
        # ...and the launch, under the same public host, to the second.
        launched = submit(
            learner.browser,
            id_token_form,
            to=second.url + "/lti/launch",
            headers={"Host": urlsplit(public_url).netloc},
        )

        page = learner.follow_launch(launched)

    assert PSS_TITLE in page.text
    assert "(participant)" in page.text
    assert first.worker_pids("/lti/login", 1)
    assert second.worker_pids("/lti/launch", 1)
    assert first.logged("/lti/launch") == []
    assert second.logged("/lti/login") == []
    assert _count(engine, LaunchSession) == 1


def test_coordinator_choice_through_one_server_is_seen_through_another(
    start_server, database_url, tmp_path, engine
):
    public_url = f"http://localhost:{free_port()}"
    first = start_server(base_url=public_url)
    second = start_server(base_url=public_url)
    with sandbox_for(database_url, tmp_path, public_url) as sandbox:
        coordinator = SandboxUser(sandbox.base_url, public_url, "coordinator")
        choose_page = _launch_across(coordinator, "not-set-up", first, second)
        # The form token made by one process must be accepted by the other.
        chosen = submit(
            coordinator.browser,
            choose_page.only_form(),
            to=first.url + "/program/target",
            target="pcfm",
        )
        assert chosen.status_code == 303, chosen.text

        learner = SandboxUser(sandbox.base_url, public_url, "learner")
        page = _launch_across(learner, "not-set-up", second, first)

    assert PCFM_TITLE in page.text
    with engine.connect() as connection:
        assert connection.scalar(select(ResourceLink.target)) == "pcfm"
        roles = sorted(connection.scalars(select(Membership.role)))
    assert roles == ["coordinator", "learner"]


def _launch_across(
    user: SandboxUser, link: str, login_at: Server, launch_at: Server
) -> Page:
    """Login through one server, launch and land through another."""
    form = user.login_form("pss-cohort", link, storage=False)
    login = submit(user.browser, form, to=login_at.url + "/lti/login")
    auth_url = read_page(login).elements["lti-login"]["data-auth-url"]
    id_token_form = read_page(user.browser.get(auth_url)).only_form()
    launched = submit(user.browser, id_token_form, to=launch_at.url + "/lti/launch")
    assert launched.status_code == 303, launched.text
    landing = user.browser.get(launch_at.url + launched.headers["Location"])
    assert landing.status_code == 200, landing.text
    return read_page(landing)


# --- two workers of one server -------------------------------------------------


class HeldConnection:
    """A connection whose request is not finished: it keeps one sync worker busy."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: localhost\r\n")

    def release(self) -> bytes:
        self.sock.sendall(b"Connection: close\r\n\r\n")
        chunks = []
        while chunk := self.sock.recv(65536):
            chunks.append(chunk)
        self.sock.close()
        return b"".join(chunks)

    def close(self) -> None:
        self.sock.close()


def _accept_queue_length(port: int) -> int:
    """Connections waiting for accept() on our listening socket (Linux only)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, state, queues = parts[1], parts[3], parts[4]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            return int(queues.split(":")[1], 16)
    raise AssertionError(f"nothing listens on port {port}")


def _hold_a_worker(server: Server, stack: ExitStack) -> HeldConnection:
    held = HeldConnection(server.port)
    stack.callback(held.close)
    deadline = time.monotonic() + 5
    while _accept_queue_length(server.port) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _accept_queue_length(server.port) == 0, "no worker took the connection"
    return held


@pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp"
)
def test_two_workers_of_one_server_share_login_state(
    start_server, database_url, tmp_path, engine
):
    public_url = f"http://localhost:{free_port()}"
    # Sync workers: a worker held busy then accepts nothing else.
    server = start_server(base_url=public_url, workers=2, threads=1)
    with (
        sandbox_for(database_url, tmp_path, public_url) as sandbox,
        ExitStack() as stack,
    ):
        learner = SandboxUser(sandbox.base_url, public_url, "learner")
        form = learner.login_form("pss-cohort", "pss-program", storage=False)
        # Worker one is busy: the login can only reach worker two.
        first_held = _hold_a_worker(server, stack)
        login = submit(learner.browser, form, to=server.url + "/lti/login")
        auth_url = read_page(login).elements["lti-login"]["data-auth-url"]
        id_token_form = read_page(learner.browser.get(auth_url)).only_form()
        # Now worker two is busy and worker one free: the launch reaches worker one.
        _hold_a_worker(server, stack)
        assert b" 200 " in first_held.release()
        launched = submit(learner.browser, id_token_form, to=server.url + "/lti/launch")

        page = learner.follow_launch(launched)

    assert PSS_TITLE in page.text
    (login_pid,) = server.worker_pids("/lti/login", 1)
    (launch_pid,) = server.worker_pids("/lti/launch", 1)
    assert login_pid != launch_pid
    assert _count(engine, LaunchSession) == 1


# --- platform key rotation seen by several servers -----------------------------


class RotatingPlatform:
    """A SigningPlatform whose key set, served on loopback, can gain a new key."""

    def __init__(self, issuer: str) -> None:
        self.current = SigningPlatform(issuer=issuer, kid="key-2025")
        self.published = [self.current]
        self._lock = threading.Lock()

    def rotate(self) -> None:
        with self._lock:
            self.current = SigningPlatform(issuer=self.current.issuer, kid="key-2026")
            self.published = [*self.published, self.current]

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [p.jwks()["keys"][0] for p in self.published]}

    def app(self) -> Flask:
        app = Flask("rotating_platform")

        @app.get("/jwks")
        def jwks() -> Any:
            response = jsonify(self.jwks())
            response.headers["Cache-Control"] = "max-age=3600"
            return response

        return app


def _signed_launch(
    browser: Browser, server: Server, platform: RotatingPlatform, public_url: str
) -> requests.Response:
    """Login and launch on one server, signed with the platform's current key."""
    signer = platform.current
    login = browser.post(
        server.url + "/lti/login",
        data={
            "iss": signer.issuer,
            "client_id": signer.client_id,
            "login_hint": "hint",
            "target_link_uri": public_url + "/lti/launch",
            "new_window": "1",
        },
    )
    assert login.status_code == 302, login.text
    query = auth_request_params(login.headers["Location"])
    claims = signer.claims(query["nonce"])
    return browser.post(
        server.url + "/lti/launch",
        data={"id_token": signer.sign(claims), "state": query["state"]},
    )


def _reason_code(page: str) -> str:
    marker = "Reason code: "
    return page.split(marker, 1)[1].split("<", 1)[0] if marker in page else ""


def _register(engine: Engine, platform: SigningPlatform) -> None:
    with session_scope(engine) as session:
        save_registration(
            session,
            RegistrationInput(
                issuer=platform.issuer,
                client_id=platform.client_id,
                auth_login_url=platform.auth_login_url,
                auth_token_url=platform.auth_token_url,
                key_set_url=platform.key_set_url,
                deployment_ids=(platform.deployment_id,),
            ),
        )


def test_every_server_accepts_a_rotated_platform_key(start_server, engine):
    platform_port = free_port()
    platform = RotatingPlatform(f"http://127.0.0.1:{platform_port}")
    _register(engine, platform.current)
    public_url = f"http://localhost:{free_port()}"
    with serving(platform.app(), platform_port):
        servers = [start_server(base_url=public_url) for _ in range(2)]
        # Each server loads the key set while it holds only the old key.
        for server in servers:
            launched = _signed_launch(Browser(), server, platform, public_url)
            assert launched.status_code == 303, launched.text

        platform.rotate()
        answers = [
            _signed_launch(Browser(), server, platform, public_url)
            for server in servers
        ]

    refusals = [_reason_code(answer.text) for answer in answers]
    assert [answer.status_code for answer in answers] == [303, 303], refusals
