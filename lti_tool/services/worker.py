"""Delivering due scores: claim outbox rows, compute the latest scores, send, settle.

Any number of workers may run at once. Rows are claimed with a lease in one short
statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers never wait for each
other); the lease, not an open transaction, protects a row while its score is
sent, so a participant's next ledger change never waits for a slow platform. A
worker that dies leaves its leases to expire and another picks the rows up.

Scores are read from the ledger after the claim, so whatever a worker sends is
at least as new as every change it claimed; a change committed meanwhile raises
the row's due version and keeps it pending. Sending twice is harmless: the
value is the latest, and each timestamp is later than the one before.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import requests
from sqlalchemy import (
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lti_tool.content.model import Catalog
from lti_tool.hours.ledger import Participant
from lti_tool.lti.store import SharedStore
from lti_tool.models import LineItem, ResourceLink, ScoreOutbox, User
from lti_tool.models.base import utcnow
from lti_tool.services.ags import HOURS_TAG, AgsClient, AgsScope, LineItemSpec, Score
from lti_tool.services.client import ServiceClient
from lti_tool.services.endpoints import AgsEndpoint, find_ags_endpoint, service_account
from lti_tool.services.errors import PlatformServiceError
from lti_tool.services.outbox import FAILED, PENDING, SENT
from lti_tool.services.scores import ScoreValue, compute_scores
from lti_tool.services.targets import Target, find_target
from lti_tool.services.token import AccessTokens

log = logging.getLogger(__name__)

ERROR_LIMIT = 1000
ONE_MS = timedelta(milliseconds=1)
# Service URLs and the registration change rarely: looked up once a minute.
LOOKUP_TTL_SECONDS = 60.0
# Finding or creating a column takes a few calls, each bounded by a timeout.
LOCK_TTL_SECONDS = 60
LOCK_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker paces itself; the defaults suit production."""

    batch_size: int = 50
    concurrency: int = 4
    lease_seconds: float = 120.0
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 600.0
    idle_seconds: float = 1.0


@dataclass(frozen=True)
class Claim:
    """One outbox row this worker holds a lease on, as it was when claimed."""

    id: int
    user_id: int
    context_pk: int
    resource_link_pk: int
    due_version: int
    attempts: int
    last_timestamp: datetime | None
    sent_line_item_pk: int | None


@dataclass(frozen=True)
class Delivery:
    """What happened to one claim; `timestamp` is set once a score was sent."""

    ok: bool
    status: int | None = None
    error: str | None = None
    transient: bool = False
    retry_after: float | None = None
    timestamp: datetime | None = None
    score: float | None = None
    line_item_pk: int | None = None


@dataclass(frozen=True)
class Route:
    """Where a link's scores go: its target, service client and line item."""

    link: ResourceLink
    target: Target
    endpoint: AgsEndpoint
    ags: AgsClient
    line_item_pk: int
    line_item_url: str


@dataclass(frozen=True)
class Plan:
    """One claim ready to send."""

    claim: Claim
    user_sub: str
    route: Route
    value: ScoreValue


class NotDeliverable(Exception):
    """A row that cannot be sent until a person changes something."""


class Busy(Exception):
    """Another worker holds what this delivery needs; try again shortly."""


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone-aware columns.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def next_timestamp(now: datetime, last: datetime | None) -> datetime:
    """Now, to the millisecond, but always after the previous score's timestamp."""
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    last = _aware(last)
    return max(now, last + ONE_MS) if last is not None else now


class ScoreWorker:
    """Claims, delivers and settles outbox rows in batches."""

    def __init__(
        self,
        engine: Engine,
        store: SharedStore,
        tokens: AccessTokens,
        http: requests.Session,
        catalog: Catalog,
        options: WorkerOptions | None = None,
        name: str | None = None,
    ) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._store = store
        self._tokens = tokens
        self._http = http
        self._catalog = catalog
        self.options = options or WorkerOptions()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._lookups: dict[tuple[str, int], tuple[float, Any]] = {}

    def run(self, stop: threading.Event, *, once: bool = False) -> int:
        """Deliver until stopped; with `once`, until nothing is due right now."""
        handled = 0
        with ThreadPoolExecutor(self.options.concurrency) as pool:
            while not stop.is_set():
                try:
                    count = self.run_batch(pool)
                except Exception:  # leases expire, so the rows are retried
                    log.exception("score batch failed worker=%s", self.name)
                    count = 0
                handled += count
                if count == 0:
                    if once:
                        break
                    stop.wait(self.options.idle_seconds)
        return handled

    def run_batch(self, pool: ThreadPoolExecutor | None = None) -> int:
        """Claim one batch, send what can be sent, settle every row; its size."""
        lease = f"{self.name}:{uuid.uuid4().hex[:12]}"
        claims = self.claim(lease)
        if not claims:
            return 0
        plans, outcomes = self.plan(claims)
        outcomes.update(self._send_all(plans, lease, pool))
        self.settle(claims, lease, outcomes)
        return len(claims)

    # Claiming

    def claim(self, lease: str) -> list[Claim]:
        """Lease up to a batch of due rows in one statement; returns them."""
        now = utcnow()
        free = or_(ScoreOutbox.lease_until.is_(None), ScoreOutbox.lease_until < now)
        due = (
            select(ScoreOutbox.id)
            .where(
                ScoreOutbox.state == PENDING, ScoreOutbox.next_attempt_at <= now, free
            )
            .order_by(ScoreOutbox.next_attempt_at)
            .limit(self.options.batch_size)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(ScoreOutbox)
            .where(ScoreOutbox.id.in_(due), ScoreOutbox.state == PENDING, free)
            .values(
                lease_owner=lease,
                lease_until=now + timedelta(seconds=self.options.lease_seconds),
            )
            .returning(
                ScoreOutbox.id,
                ScoreOutbox.user_id,
                ScoreOutbox.context_pk,
                ScoreOutbox.resource_link_pk,
                ScoreOutbox.due_version,
                ScoreOutbox.attempts,
                ScoreOutbox.last_timestamp,
                ScoreOutbox.sent_line_item_pk,
            )
            .execution_options(synchronize_session=False)
        )
        with self._sessions.begin() as session:
            rows = session.execute(statement).all()
        return [Claim(**row._mapping) for row in rows]

    def _renew(self, ids: list[int], lease: str) -> None:
        until = utcnow() + timedelta(seconds=self.options.lease_seconds)
        with self._sessions.begin() as session:
            session.execute(
                update(ScoreOutbox)
                .where(ScoreOutbox.id.in_(ids), ScoreOutbox.lease_owner == lease)
                .values(lease_until=until)
                .execution_options(synchronize_session=False)
            )

    # Planning: routes, line items and scores for the whole batch

    def plan(self, claims: list[Claim]) -> tuple[list[Plan], dict[int, Delivery]]:
        """Ready-to-send plans, and the outcome of every claim that cannot be sent."""
        with self._sessions() as session:
            links, subs = _links_and_subs(session, claims)
            ready, outcomes = self._routes(session, claims, links, subs)
            wanted = [(_participant(claim), route.target) for claim, route in ready]
            values = compute_scores(session, wanted)
        plans = [
            Plan(
                claim,
                subs[claim.user_id],
                route,
                values[(_participant(claim), route.target.id)],
            )
            for claim, route in ready
        ]
        return plans, outcomes

    def _routes(
        self,
        session: Session,
        claims: list[Claim],
        links: dict[int, ResourceLink],
        subs: dict[int, str],
    ) -> tuple[list[tuple[Claim, Route]], dict[int, Delivery]]:
        """Each claim's route, worked out once per link of the batch."""
        routes: dict[int, Route | Delivery] = {}
        ready: list[tuple[Claim, Route]] = []
        outcomes: dict[int, Delivery] = {}
        for claim in claims:
            link = links.get(claim.resource_link_pk)
            if link is None or claim.user_id not in subs:
                outcomes[claim.id] = Delivery(
                    ok=False, error="the link or the participant no longer exists"
                )
                continue
            if link.id not in routes:
                routes[link.id] = self._route_or_outcome(session, link, claim)
            route = routes[link.id]
            if isinstance(route, Delivery):
                outcomes[claim.id] = route
            else:
                ready.append((claim, route))
        return ready, outcomes

    def _route_or_outcome(
        self, session: Session, link: ResourceLink, claim: Claim
    ) -> Route | Delivery:
        try:
            return self._route(session, link, claim.context_pk)
        except NotDeliverable as reason:
            session.rollback()
            return Delivery(ok=False, error=str(reason))
        except Busy as reason:
            session.rollback()
            return Delivery(ok=False, transient=True, error=str(reason))
        except PlatformServiceError as failure:
            session.rollback()
            return _failed(failure, None)

    def _route(
        self,
        session: Session,
        link: ResourceLink,
        context_pk: int,
        *,
        trust_launch: bool = True,
    ) -> Route:
        target = find_target(self._catalog, link.target)
        if target is None:
            raise NotDeliverable("the link does not open a program or module")
        endpoint = self._lookup(
            "ags", link.id, lambda: find_ags_endpoint(session, link)
        )
        if endpoint is None or not endpoint.allows(AgsScope.SCORE):
            raise NotDeliverable("the platform offers no grade service for this link")
        account = self._lookup(
            "account", context_pk, lambda: service_account(session, context_pk)
        )
        ags = AgsClient(
            ServiceClient(self._tokens, self._http, account, endpoint.scopes, "ags")
        )
        line_item = self._ensure_line_item(
            session, ags, link, endpoint, target, trust_launch
        )
        return Route(link, target, endpoint, ags, line_item.id, line_item.line_item_url)

    def _lookup(self, kind: str, key: int, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        cached = self._lookups.get((kind, key))
        if cached is not None and cached[0] > now:
            return cached[1]
        value = load()
        self._lookups[(kind, key)] = (now + LOOKUP_TTL_SECONDS, value)
        return value

    def _ensure_line_item(
        self,
        session: Session,
        ags: AgsClient,
        link: ResourceLink,
        endpoint: AgsEndpoint,
        target: Target,
        trust_launch: bool,
    ) -> LineItem:
        """The stored line item of the link's target, found or created once."""
        existing = _stored_line_item(session, link, target)
        if existing is not None:
            return existing
        # One worker at a time decides, in any database, so a column is never
        # created twice; the loser finds the winner's row once it is released.
        lock = f"line_item_lock:{link.id}:{target.id}"
        self._lock(lock)
        try:
            session.commit()  # a fresh snapshot shows what the winner stored
            existing = _stored_line_item(session, link, target)
            if existing is not None:
                return existing
            return self._add_line_item(
                session, ags, link, endpoint, target, trust_launch
            )
        finally:
            self._store.take(lock)

    def _lock(self, key: str) -> None:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while not self._store.add(key, self.name, LOCK_TTL_SECONDS):
            if time.monotonic() > deadline:
                raise Busy("another worker is adding this link's grade column")
            time.sleep(0.05)

    def _add_line_item(
        self,
        session: Session,
        ags: AgsClient,
        link: ResourceLink,
        endpoint: AgsEndpoint,
        target: Target,
        trust_launch: bool,
    ) -> LineItem:
        spec = LineItemSpec(
            label=target.title,
            score_maximum=target.planned_hours,
            resource_id=target.id,
            tag=HOURS_TAG,
            resource_link_id=link.resource_link_id,
        )
        url = endpoint.line_item_url if trust_launch else None
        if url is None:
            url = _find_or_create(ags, endpoint, spec)
        row = LineItem(
            resource_link_pk=link.id,
            line_item_url=url,
            label=spec.label,
            score_maximum=spec.score_maximum,
            resource_id=spec.resource_id,
            tag=spec.tag,
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            existing = _stored_line_item(session, link, target)
            if existing is None:
                raise
            return existing
        return row

    # Sending

    def _send_all(
        self, plans: list[Plan], lease: str, pool: ThreadPoolExecutor | None
    ) -> dict[int, Delivery]:
        if pool is None:
            return {plan.claim.id: self.send(plan) for plan in plans}
        futures = {pool.submit(self.send, plan): plan.claim.id for plan in plans}
        pending = set(futures)
        # Slow platforms can outlast a lease: renew it for rows still in hand.
        while pending:
            _, pending = wait(pending, timeout=self.options.lease_seconds / 3)
            if pending:
                self._renew([futures[f] for f in pending], lease)
        return {claim_id: future.result() for future, claim_id in futures.items()}

    def send(self, plan: Plan) -> Delivery:
        """POST one planned score; never raises."""
        timestamp = next_timestamp(utcnow(), plan.claim.last_timestamp)
        try:
            return self._publish(plan, plan.route, timestamp)
        except PlatformServiceError as failure:
            if failure.status != 404:
                return _failed(failure, timestamp)
        except Exception:  # one bad row must not stop the others
            log.exception("score delivery crashed outbox=%s", plan.claim.id)
            return Delivery(ok=False, transient=True, error="internal error")
        return self._send_after_404(plan, timestamp)

    def _send_after_404(self, plan: Plan, previous: datetime) -> Delivery:
        """The column was deleted on the platform: find or make it again, resend."""
        timestamp = next_timestamp(utcnow(), previous)
        with self._sessions() as session:
            try:
                stale = session.get(LineItem, plan.route.line_item_pk)
                if stale is not None:
                    session.delete(stale)
                    session.commit()
                link = session.get(ResourceLink, plan.route.link.id)
                if link is None:
                    return Delivery(ok=False, error="the link no longer exists")
                route = self._route(
                    session, link, plan.claim.context_pk, trust_launch=False
                )
                return self._publish(plan, route, timestamp)
            except (NotDeliverable, Busy) as reason:
                transient = isinstance(reason, Busy)
                return Delivery(ok=False, transient=transient, error=str(reason))
            except PlatformServiceError as failure:
                return _failed(failure, timestamp)

    def _publish(self, plan: Plan, route: Route, timestamp: datetime) -> Delivery:
        value = plan.value
        score = Score(
            user_id=plan.user_sub,
            score_given=value.score_given,
            score_maximum=value.score_maximum,
            activity_progress=value.activity_progress,
            grading_progress=value.grading_progress,
            timestamp=timestamp,
            comment=value.comment,
            submitted_at=value.submitted_at,
            new_submission=plan.claim.sent_line_item_pk != route.line_item_pk,
        )
        route.ags.publish_score(route.line_item_url, score)
        log.info(
            "score published outbox=%s user=%s context=%s line_item=%s score=%s "
            "activity=%s grading=%s",
            plan.claim.id,
            plan.claim.user_id,
            plan.claim.context_pk,
            route.line_item_pk,
            score.score_given,
            score.activity_progress.value,
            score.grading_progress.value,
        )
        return Delivery(
            ok=True,
            status=200,
            timestamp=timestamp,
            score=score.score_given,
            line_item_pk=route.line_item_pk,
        )

    # Settling

    def settle(
        self, claims: list[Claim], lease: str, outcomes: dict[int, Delivery]
    ) -> None:
        """Record every outcome in one statement per batch.

        A row whose ledger moved on while it was sent stays pending, whatever
        the outcome; a row whose lease another worker took is left to it.
        """
        now = utcnow()
        rows = [self._settled_values(c, outcomes[c.id], now) for c in claims]
        for claim in claims:
            delivery = outcomes[claim.id]
            if not delivery.ok and not delivery.transient:
                log.warning(
                    "score refused outbox=%s user=%s context=%s status=%s",
                    claim.id,
                    claim.user_id,
                    claim.context_pk,
                    delivery.status,
                )
        with self._sessions.begin() as session:
            rows = [{**row, "b_lease": lease} for row in rows]
            session.connection().execute(_SETTLE, rows)

    def _settled_values(
        self, claim: Claim, delivery: Delivery, now: datetime
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "b_id": claim.id,
            "b_version": claim.due_version,
            "b_now": now,
            "b_status": delivery.status,
            "b_stamp": delivery.timestamp,
            "b_sent_version": None,
            "b_sent_score": None,
            "b_sent_line_item": None,
        }
        if delivery.ok:
            values.update(
                b_state=SENT,
                b_attempts=0,
                b_next=now,
                b_error=None,
                b_sent_version=claim.due_version,
                b_sent_score=delivery.score,
                b_sent_line_item=delivery.line_item_pk,
            )
        elif delivery.transient:
            attempts = claim.attempts + 1
            delay = self.backoff(attempts, delivery)
            values.update(
                b_state=PENDING,
                b_attempts=attempts,
                b_next=now + timedelta(seconds=delay),
                b_error=(delivery.error or "")[:ERROR_LIMIT],
            )
        else:
            values.update(
                b_state=FAILED,
                b_attempts=claim.attempts + 1,
                b_next=now,
                b_error=(delivery.error or "")[:ERROR_LIMIT],
            )
        return values

    def backoff(self, attempts: int, delivery: Delivery) -> float:
        """Seconds to wait: Retry-After when given, else exponential with jitter."""
        ceiling = self.options.backoff_max_seconds
        if delivery.retry_after is not None:
            return min(max(delivery.retry_after, 0.0), ceiling)
        delay = self.options.backoff_base_seconds * float(2 ** min(attempts - 1, 30))
        return min(delay, ceiling) * random.uniform(0.75, 1.0)


def _settle_statement() -> Any:
    table = cast(Table, ScoreOutbox.__table__)
    now = bindparam("b_now", type_=DateTime(timezone=True))
    sent_version = bindparam("b_sent_version", type_=Integer)
    return (
        update(table)
        .where(
            table.c.id == bindparam("b_id", type_=Integer),
            table.c.lease_owner == bindparam("b_lease", type_=String),
        )
        .values(
            state=case(
                (
                    table.c.due_version == bindparam("b_version", type_=Integer),
                    bindparam("b_state", type_=String),
                ),
                else_=PENDING,
            ),
            attempts=bindparam("b_attempts", type_=Integer),
            next_attempt_at=bindparam("b_next", type_=DateTime(timezone=True)),
            last_attempt_at=now,
            last_status=bindparam("b_status", type_=Integer),
            last_error=bindparam("b_error", type_=Text),
            last_timestamp=func.coalesce(
                bindparam("b_stamp", type_=DateTime(timezone=True)),
                table.c.last_timestamp,
            ),
            sent_version=func.coalesce(sent_version, table.c.sent_version),
            sent_at=case((sent_version.is_not(None), now), else_=table.c.sent_at),
            sent_score=func.coalesce(
                bindparam("b_sent_score", type_=Float), table.c.sent_score
            ),
            sent_line_item_pk=func.coalesce(
                bindparam("b_sent_line_item", type_=Integer),
                table.c.sent_line_item_pk,
            ),
            lease_owner=None,
            lease_until=None,
        )
    )


_SETTLE = _settle_statement()


def _participant(claim: Claim) -> Participant:
    return Participant(claim.user_id, claim.context_pk)


def _links_and_subs(
    session: Session, claims: list[Claim]
) -> tuple[dict[int, ResourceLink], dict[int, str]]:
    """The batch's resource links by id and participants' platform ids (`sub`)."""
    link_ids = {claim.resource_link_pk for claim in claims}
    user_ids = {claim.user_id for claim in claims}
    links = session.scalars(select(ResourceLink).where(ResourceLink.id.in_(link_ids)))
    subs = session.execute(select(User.id, User.sub).where(User.id.in_(user_ids)))
    return {link.id: link for link in links}, {id_: sub for id_, sub in subs}


def _find_or_create(ags: AgsClient, endpoint: AgsEndpoint, spec: LineItemSpec) -> str:
    if endpoint.line_items_url is None:
        raise NotDeliverable("the platform named no line-items service")
    if endpoint.allows(AgsScope.LINE_ITEM):
        return ags.find_or_create(endpoint.line_items_url, spec).url
    found = ags.find_line_item(endpoint.line_items_url, spec)
    if found is None:
        raise NotDeliverable("the platform lets the tool neither find nor add a column")
    return found.url


def _stored_line_item(
    session: Session, link: ResourceLink, target: Target
) -> LineItem | None:
    return session.scalar(
        select(LineItem).where(
            LineItem.resource_link_pk == link.id,
            LineItem.resource_id == target.id,
            LineItem.tag == HOURS_TAG,
        )
    )


def _failed(failure: PlatformServiceError, timestamp: datetime | None) -> Delivery:
    return Delivery(
        ok=False,
        status=failure.status,
        error=failure.describe(),
        transient=failure.is_transient,
        retry_after=failure.retry_after,
        timestamp=timestamp,
    )
