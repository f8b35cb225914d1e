"""`lti-tool worker`: deliver due scores until stopped."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from types import FrameType

import click

from lti_tool.catalog import load_app_catalog
from lti_tool.db import make_engine
from lti_tool.logs import configure_logging
from lti_tool.lti.keys import KeyRing
from lti_tool.lti.store import make_store
from lti_tool.services.client import service_session
from lti_tool.services.token import AccessTokens
from lti_tool.services.worker import ScoreWorker, WorkerOptions
from lti_tool.settings import Settings, load_settings

log = logging.getLogger(__name__)


def build_worker(settings: Settings, options: WorkerOptions) -> ScoreWorker:
    """A worker wired like the web app: same database, store, keys and content."""
    engine = make_engine(settings.database_url)
    http = service_session(settings)
    key_ring = KeyRing(settings.keys_dir, timedelta(days=settings.key_grace_days))
    store = make_store(engine, settings.redis_url)
    tokens = AccessTokens(store, http, key_ring)
    catalog = load_app_catalog(settings.content_dir)
    return ScoreWorker(engine, store, tokens, http, catalog, options)


def start_dev_worker(settings: Settings) -> threading.Event:
    """A worker thread beside `lti-tool dev`, so scores reach the sandbox."""
    options = WorkerOptions(backoff_base_seconds=1.0, backoff_max_seconds=30.0)
    score_worker = build_worker(settings, options)
    stop = threading.Event()
    thread = threading.Thread(
        target=score_worker.run, args=(stop,), name="score-worker", daemon=True
    )
    thread.start()
    return stop


@click.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--batch-size", default=50, show_default=True)
@click.option("--concurrency", default=4, show_default=True, help="Sends at once.")
@click.option("--lease-seconds", default=120.0, show_default=True)
@click.option("--backoff-base", default=2.0, show_default=True, help="Seconds.")
@click.option("--backoff-max", default=600.0, show_default=True, help="Seconds.")
@click.option("--idle-seconds", default=1.0, show_default=True)
def worker(
    once: bool,
    batch_size: int,
    concurrency: int,
    lease_seconds: float,
    backoff_base: float,
    backoff_max: float,
    idle_seconds: float,
) -> None:
    """Send due scores to the platforms' grade books (AGS).

    Several workers may run at once on PostgreSQL. On SQLite they stay correct
    but queue behind its single writer, so run one.
    """
    settings = load_settings()
    configure_logging(settings.log_level)
    options = WorkerOptions(
        batch_size=batch_size,
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        backoff_base_seconds=backoff_base,
        backoff_max_seconds=backoff_max,
        idle_seconds=idle_seconds,
    )
    score_worker = build_worker(settings, options)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        # Finish the rows in hand; their leases would otherwise delay them.
        log.info("worker stopping signal=%s worker=%s", signum, score_worker.name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("worker started worker=%s once=%s", score_worker.name, once)
    delivered = score_worker.run(stop, once=once)
    log.info("worker stopped worker=%s rows=%s", score_worker.name, delivered)
    if once:
        click.echo(f"rows handled: {delivered}")
