"""The floor for any LTI tool: a Flask app that verifies one RS256 JWT per request.

Every LTI 1.3 launch has to check the platform's signature on an id_token, so no
tool can be cheaper per launch than this app under the same server. bench/launch.py
runs it under the same gunicorn settings as the tool and compares the two.

Configured through the environment (read once, at start-up):
  BENCH_FLOOR_PUBLIC_KEY  path of the platform's public key (PEM)
  BENCH_FLOOR_ISSUER      expected `iss`
  BENCH_FLOOR_AUDIENCE    expected `aud`

Serve with: gunicorn --pythonpath bench 'floor_app:create_app()'

`POST /login` is the floor of an OIDC login, for `bench/launch.py --floor-login`:
two random values, a cookie and a redirect, and nothing remembered. A launch is
a login and a launch; with it the floor is that pair too.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import Flask, Response, redirect, request

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

    @app.post("/login")
    def login() -> Response:
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        query = urlencode(
            {
                "state": state,
                "nonce": nonce,
                "login_hint": request.form.get("login_hint", ""),
                "client_id": audience,
            }
        )
        response = redirect(f"{issuer}/auth?{query}", code=302)
        response.set_cookie("state", state, secure=True, httponly=True, samesite="None")
        return response

    @app.get("/health")
    def health() -> Response:
        return Response("ok\n", mimetype="text/plain")

    return app
