"""Live servers for tests over real HTTP: the tool and the sandbox LMS in threads.

The tool listens on `localhost` and the sandbox on `127.0.0.1`, two different
sites, like a tool embedded in a real LMS.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from lti_tool import create_app
from lti_tool.devserver import register_sandbox
from lti_tool.sandbox import SandboxConfig, create_sandbox_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: Any, port: int) -> Iterator[BaseWSGIServer]:
    """Serve a WSGI app on 127.0.0.1:port in a thread until the block ends."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=5)


@dataclass
class LiveSetup:
    tool_url: str
    sandbox_url: str
    tool_app: Flask
    sandbox: SandboxConfig


@contextmanager
def live_tool_and_sandbox(
    database_url: str, keys_dir: Path, tmp_path: Path, **tool_settings: Any
) -> Iterator[LiveSetup]:
    """Start the tool and a sandbox registered with it; both on free ports."""
    tool_port, sandbox_port = free_port(), free_port()
    tool_url = f"http://localhost:{tool_port}"
    sandbox = SandboxConfig(
        base_url=f"http://127.0.0.1:{sandbox_port}",
        tool_url=tool_url,
        key_path=tmp_path / "sandbox-platform.pem",
    )
    register_sandbox(database_url, sandbox)
    tool_app = create_app(
        {
            "database_url": database_url,
            "keys_dir": keys_dir,
            "base_url": tool_url,
            "secret_key": "live-test-secret",
            "redis_url": "",
            **tool_settings,
        }
    )
    with (
        serving(tool_app, tool_port),
        serving(create_sandbox_app(sandbox), sandbox_port),
    ):
        yield LiveSetup(tool_url, sandbox.base_url, tool_app, sandbox)
