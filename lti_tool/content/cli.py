"""Command line for authors: `content check` validates the content folder."""

from __future__ import annotations

from pathlib import Path

import click

from lti_tool.content.check import check_content
from lti_tool.content.loader import default_content_root


@click.group()
def content() -> None:
    """Work with the training content files."""


@content.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Content folder (default: $LTI_TOOL_CONTENT_DIR or the repo's content/).",
)
def check(root: Path | None) -> None:
    """Report every content problem and the planned hours; exit 1 on problems."""
    report = check_content((root or default_content_root()).resolve())

    # Paths relative to the working folder let editors jump straight to the line.
    base = Path.cwd()
    for problem in report.problems:
        click.echo(problem.describe(base))
    if report.problems:
        click.echo(f"\n{len(report.problems)} problem(s) found.\n")
    click.echo(report.hours_table())

    if not report.ok:
        raise SystemExit(1)
