"""A small, strict LTI 1.3 platform for development and integration tests."""

from __future__ import annotations

from lti_tool.sandbox.app import create_sandbox_app
from lti_tool.sandbox.config import SandboxConfig, sandbox_registration
from lti_tool.sandbox.demo import PSS_MODULE_ID

__all__ = [
    "PSS_MODULE_ID",
    "SandboxConfig",
    "create_sandbox_app",
    "sandbox_registration",
]
