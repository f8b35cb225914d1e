"""The `lti-tool` command line: database, keys, platforms, content, sandbox."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool import migrate
from lti_tool.admin_cli import admin
from lti_tool.content.cli import content
from lti_tool.db import make_engine, session_scope
from lti_tool.lti.keys import KeyRing
from lti_tool.models import Registration
from lti_tool.registrations import (
    RegistrationError,
    RegistrationInput,
    find_registration,
    list_registrations,
    read_registrations_file,
    remove_registration,
    save_registration,
)
from lti_tool.services.cli import worker
from lti_tool.settings import load_settings
from lti_tool.work.crypto import DataKeyMissing, generate_data_key, rotate_data_key


@click.group()
def main() -> None:
    """Run and administer the peer-support training LTI tool."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = load_settings()
    migrate.upgrade(settings.database_url)
    click.echo("database schema is up to date")


@main.group()
def keys() -> None:
    """The tool's signing keys (kept in keys/, never printed)."""


def _key_ring() -> KeyRing:
    settings = load_settings()
    return KeyRing(settings.keys_dir, timedelta(days=settings.key_grace_days))


@keys.command("generate")
def keys_generate() -> None:
    """Create the first signing key and the data key if there are none."""
    created = generate_data_key(load_settings().keys_dir)
    click.echo(f"data key: {'created' if created else 'present'}")
    click.echo(f"current key: {_key_ring().generate()}")


@keys.command("rotate-data")
def keys_rotate_data() -> None:
    """Encrypt new participant work with a new data key; old keys still decrypt."""
    try:
        count = rotate_data_key(load_settings().keys_dir)
    except DataKeyMissing as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"data keys kept: {count}")


@keys.command("rotate")
def keys_rotate() -> None:
    """Sign with a new key; the old one stays published for the grace period."""
    ring = _key_ring()
    click.echo(f"current key: {ring.rotate()}")
    click.echo(f"published keys: {', '.join(k.kid for k in ring.published())}")


@keys.command("list")
def keys_list() -> None:
    """Show the published key ids and which one signs."""
    ring = _key_ring()
    current = ring.current().kid
    for key in ring.published():
        retired = key.retired_at.isoformat() if key.retired_at else "-"
        click.echo(
            f"{key.kid}  {'current' if key.kid == current else 'retired ' + retired}"
        )


@main.group()
def platform() -> None:
    """Platform registrations (issuer, client_id, deployments, endpoints)."""


@platform.command("add")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--auth-login-url", required=True, help="The platform's OIDC auth URL.")
@click.option("--auth-token-url", required=True)
@click.option("--key-set-url", required=True, help="The platform's JWKS URL.")
@click.option("--deployment-id", "deployment_ids", multiple=True)
@click.option("--name", default="")
@click.option(
    "--auth-audience", default=None, help="Token audience, if not the token URL."
)
def platform_add(**options: object) -> None:
    """Register a platform (or update one with the same issuer and client_id)."""
    data = RegistrationInput(
        issuer=str(options["issuer"]),
        client_id=str(options["client_id"]),
        auth_login_url=str(options["auth_login_url"]),
        auth_token_url=str(options["auth_token_url"]),
        key_set_url=str(options["key_set_url"]),
        deployment_ids=tuple(options["deployment_ids"]),  # type: ignore[arg-type]
        name=str(options["name"]),
        auth_audience=options["auth_audience"],  # type: ignore[arg-type]
    )
    _save([data])


@platform.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def platform_import(path: Path) -> None:
    """Register every [[platform]] in a TOML file."""
    try:
        items = list(read_registrations_file(path))
    except RegistrationError as error:
        raise click.ClickException(str(error)) from None
    _save(items)


def _save(items: list[RegistrationInput]) -> None:
    engine = make_engine(load_settings().database_url)
    try:
        with session_scope(engine) as session:
            for item in items:
                registration = save_registration(session, item)
                click.echo(
                    f"registered #{registration.id} {registration.issuer} "
                    f"client_id={registration.client_id} "
                    f"deployments={len(registration.deployments)}"
                )
    except RegistrationError as error:
        raise click.ClickException(str(error)) from None


@platform.command("list")
def platform_list() -> None:
    """One line per registration."""
    engine = make_engine(load_settings().database_url)
    with session_scope(engine) as session:
        for item in list_registrations(session):
            state = "enabled" if item.is_enabled else "disabled"
            click.echo(
                f"#{item.id}  {item.issuer}  client_id={item.client_id}  "
                f"deployments={len(item.deployments)}  {state}"
            )


@platform.command("show")
@click.option("--issuer", required=True)
@click.option("--client-id", default=None)
def platform_show(issuer: str, client_id: str | None) -> None:
    """Every field of one registration."""
    engine = make_engine(load_settings().database_url)
    with session_scope(engine) as session:
        item = find_registration(session, issuer, client_id)
        if item is None:
            raise click.ClickException(_missing_registration(session, issuer))
        for label, value in (
            ("name", item.name),
            ("issuer", item.issuer),
            ("client_id", item.client_id),
            ("auth_login_url", item.auth_login_url),
            ("auth_token_url", item.auth_token_url),
            ("key_set_url", item.key_set_url),
            ("auth_audience", item.auth_audience or "(token URL)"),
            ("enabled", item.is_enabled),
            ("last_launch_at", item.last_launch_at or "never"),
            ("deployments", ", ".join(d.deployment_id for d in item.deployments)),
        ):
            click.echo(f"{label:15} {value}")


def _missing_registration(session: Session, issuer: str) -> str:
    """Why no single registration was found: none, or several for the issuer."""
    count = session.scalar(
        select(func.count())
        .select_from(Registration)
        .where(Registration.issuer == issuer)
    )
    if count and count > 1:
        return f"{count} registrations have this issuer: name one with --client-id"
    return "no such registration"


@platform.command("disable")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
def platform_disable(issuer: str, client_id: str) -> None:
    """Refuse logins and launches of a registration, keeping its history."""
    _set_enabled(issuer, client_id, enabled=False)


@platform.command("enable")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
def platform_enable(issuer: str, client_id: str) -> None:
    """Accept logins and launches of a registration again."""
    _set_enabled(issuer, client_id, enabled=True)


def _set_enabled(issuer: str, client_id: str, *, enabled: bool) -> None:
    settings = load_settings()
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        item = find_registration(session, issuer, client_id)
        if item is None:
            raise click.ClickException("no such registration")
        item.is_enabled = enabled
    if enabled:
        click.echo("enabled")
    else:
        # Running workers keep what they read for registration_cache_seconds.
        click.echo(
            "disabled; running tool processes refuse it within "
            f"{settings.registration_cache_seconds:g} s"
        )


@platform.command("remove")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
def platform_remove(issuer: str, client_id: str) -> None:
    """Delete a registration and its deployments."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        if not remove_registration(session, issuer, client_id):
            raise click.ClickException("no such registration")
    click.echo(
        "removed; running tool processes refuse it within "
        f"{settings.registration_cache_seconds:g} s"
    )


@main.group()
def store() -> None:
    """The shared store of OIDC state, used nonces and cached platform keys."""


@store.command("purge")
def store_purge() -> None:
    """Delete expired entries from the database store (Redis expires its own)."""
    from lti_tool.lti.store import DatabaseStore

    removed = DatabaseStore(make_engine(load_settings().database_url)).purge_expired()
    click.echo(f"removed {removed} expired entries")


@main.command()
@click.option("--tool-port", default=8000, show_default=True)
@click.option("--sandbox-port", default=8001, show_default=True)
def dev(tool_port: int, sandbox_port: int) -> None:
    """Run the tool with the built-in sandbox LMS (development only)."""
    from lti_tool.devserver import serve_both

    serve_both(tool_port, sandbox_port)


main.add_command(content)
main.add_command(admin)
main.add_command(worker)


if __name__ == "__main__":
    sys.exit(main())
