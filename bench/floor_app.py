"""The floor for any LTI tool: a Flask app that verifies one RS256 JWT per request.

Every LTI 1.3 launch has to check the platform's signature on an id_token, so no
tool can be cheaper per launch than this app under the same server. bench/launch.py
runs it under the same gunicorn settings as the tool and compares the two.

Configured through the environment (read once, at start-up):
  BENCH_FLOOR_PUBLIC_KEY  path of the platform's public key (PEM)
  BENCH_FLOOR_ISSUER      expected `iss`
  BENCH_FLOOR_AUDIENCE    expected `aud`

Serve with: gunicorn --pythonpath bench 'floor_app:create_app()'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import Flask, Response, request

ALGORITHMS = ["RS256"]


def _public_key() -> Any:
    # Loaded before the first request: parsing a key costs more than using it, and
    # a real tool caches its platform keys too.
    return load_pem_public_key(Path(os.environ["BENCH_FLOOR_PUBLIC_KEY"]).read_bytes())


def create_app() -> Flask:
    """The floor app: POST /verify with form field id_token; GET /health."""
    key = _public_key()
    issuer = os.environ["BENCH_FLOOR_ISSUER"]
    audience = os.environ["BENCH_FLOOR_AUDIENCE"]
    app = Flask(__name__)

    @app.post("/verify")
    def verify() -> Response:
        token = request.form.get("id_token", "")
        try:
            # The same claim checks the tool's signature step makes, no more.
            jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=audience,
                issuer=issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "nonce"]},
            )
        except jwt.InvalidTokenError as error:
            return Response(f"invalid: {type(error).__name__}\n", status=400)
        return Response("ok\n", mimetype="text/plain")

    @app.get("/health")
    def health() -> Response:
        return Response("ok\n", mimetype="text/plain")

    return app
