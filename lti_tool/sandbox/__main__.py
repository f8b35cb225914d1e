"""Serve the sandbox on 127.0.0.1 for trying the tool by hand."""

from __future__ import annotations

import argparse
import logging

from werkzeug.serving import run_simple

from lti_tool.sandbox import SandboxConfig, create_sandbox_app

# Loopback only: the sandbox signs launches for anyone who can reach it.
_HOST = "127.0.0.1"


def main(argv: list[str] | None = None) -> None:
    """Parse the port and tool URL, then serve until interrupted."""
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(prog="python -m lti_tool.sandbox")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--tool-url", default=defaults.tool_url)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    config = SandboxConfig(
        base_url=f"http://{_HOST}:{args.port}", tool_url=args.tool_url
    )
    app = create_sandbox_app(config)
    run_simple(_HOST, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
