"""`lti-tool dev`: the tool and the sandbox LMS side by side, for trying it out.

The tool answers on http://localhost:8000 and the sandbox on http://127.0.0.1:8001:
two different sites, so the browser treats the tool as a third party inside the
sandbox's course page, exactly as it would inside a real LMS.
"""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import make_server

from lti_tool import create_app
from lti_tool.db import make_engine, session_scope
from lti_tool.registrations import RegistrationInput, save_registration
from lti_tool.sandbox import SandboxConfig, create_sandbox_app, sandbox_registration
from lti_tool.services.cli import start_dev_worker
from lti_tool.settings import load_settings

log = logging.getLogger(__name__)

TOOL_PORT = 8000
SANDBOX_PORT = 8001


def register_sandbox(database_url: str, config: SandboxConfig) -> None:
    """Make sure the tool knows the sandbox platform (idempotent)."""
    fields = sandbox_registration(config)
    fields["deployment_ids"] = tuple(fields["deployment_ids"])
    with session_scope(make_engine(database_url)) as session:
        save_registration(session, RegistrationInput(**fields))


def serve_both(tool_port: int = TOOL_PORT, sandbox_port: int = SANDBOX_PORT) -> None:
    """Serve until interrupted; loopback only, since the sandbox signs for anyone."""
    tool_url = f"http://localhost:{tool_port}"
    sandbox = SandboxConfig(
        base_url=f"http://127.0.0.1:{sandbox_port}", tool_url=tool_url
    )
    # The sandbox answers on loopback, so dynamic registration must reach it.
    overrides = {
        "base_url": tool_url,
        "sandbox_enabled": True,
        "registration_allow_private": True,
        # Trying the tool out means launching right after registering it.
        "registration_auto_enable": True,
    }
    settings = load_settings(overrides)
    register_sandbox(settings.database_url, sandbox)

    tool_server = make_server(
        "127.0.0.1",
        tool_port,
        create_app(overrides),
        threaded=True,
    )
    sandbox_server = make_server(
        "127.0.0.1", sandbox_port, create_sandbox_app(sandbox), threaded=True
    )
    threading.Thread(target=tool_server.serve_forever, daemon=True).start()
    start_dev_worker(settings)
    print(
        f"\n  Tool:        {tool_url}\n"
        f"  Sandbox LMS: {sandbox.base_url}/   <- open this in your browser\n"
        f"  Dynamic registration, as an LMS administrator does it: "
        f"{sandbox.base_url}/register-tool\n\n"
        "  Press Ctrl+C to stop.\n",
        flush=True,
    )
    try:
        sandbox_server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        tool_server.shutdown()
