"""`lti-tool admin`: tool administrator accounts for the web administration."""

from __future__ import annotations

import click

from lti_tool.admin_accounts import (
    AccountError,
    create_account,
    list_accounts,
    remove_account,
)
from lti_tool.db import make_engine, session_scope
from lti_tool.settings import load_settings


@click.group()
def admin() -> None:
    """Accounts that sign in to /admin (registrations, failures, keys)."""


@admin.command("create")
@click.argument("username")
@click.password_option(
    "--password",
    prompt="Password",
    confirmation_prompt="Repeat the password",
    help="Asked for, hidden, when not given.",
)
def admin_create(username: str, password: str) -> None:
    """Create an administrator; the password is asked for twice, hidden."""
    engine = make_engine(load_settings().database_url)
    try:
        with session_scope(engine) as session:
            account = create_account(session, username, password)
            click.echo(f"created administrator #{account.id} {account.username}")
    except AccountError as error:
        raise click.ClickException(str(error)) from None


@admin.command("list")
def admin_list() -> None:
    """One line per administrator, with the last sign-in."""
    engine = make_engine(load_settings().database_url)
    with session_scope(engine) as session:
        for account in list_accounts(session):
            last = account.last_sign_in_at
            last_text = last.isoformat(timespec="minutes") if last else "never"
            click.echo(
                f"#{account.id}  {account.username}  "
                f"created {account.created_at:%Y-%m-%d}  last sign-in {last_text}"
            )


@admin.command("remove")
@click.argument("username")
def admin_remove(username: str) -> None:
    """Delete an administrator account."""
    engine = make_engine(load_settings().database_url)
    with session_scope(engine) as session:
        if not remove_account(session, username):
            raise click.ClickException("no such administrator")
    click.echo("removed")
