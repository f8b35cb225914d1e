"""The curriculum as the web app sees it: loaded once per process from content/."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def load_app_catalog(content_dir: Path) -> Any:
    """Load the programs; a broken content folder is our own error, logged loudly."""
    from lti_tool.content.loader import load_catalog

    catalog = load_catalog(content_dir)
    log.info("content loaded programs=%s", ",".join(sorted(catalog.programs)))
    return catalog


def is_known_target(catalog: Any, target: str) -> bool:
    """True when `target` names a program ("pss") or one of its modules."""
    return catalog.find_target(target) is not None
