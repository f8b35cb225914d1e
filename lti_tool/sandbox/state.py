"""What the sandbox's views share, kept on the Flask app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

from lti_tool.sandbox.config import SandboxConfig
from lti_tool.sandbox.gradebook import GradeBook
from lti_tool.sandbox.hints import MessageHintStore
from lti_tool.sandbox.keys import SigningKey
from lti_tool.sandbox.tool_keys import ToolKeys
from lti_tool.sandbox.tools import RegistrationTokens, ToolClients

_EXTENSION = "lti_sandbox"


@dataclass(frozen=True)
class SandboxState:
    """Settings, the signing key, hints, registered tools and the clock."""

    config: SandboxConfig
    key: SigningKey
    hints: MessageHintStore
    clock: Callable[[], float]
    clients: ToolClients
    registration_tokens: RegistrationTokens
    book: GradeBook
    tool_keys: ToolKeys

    def attach(self, app: Flask) -> None:
        """Make this state the one `sandbox_state()` returns inside `app`."""
        app.extensions[_EXTENSION] = self


def sandbox_state() -> SandboxState:
    """The state of the sandbox app handling the current request."""
    state: SandboxState = current_app.extensions[_EXTENSION]
    return state
