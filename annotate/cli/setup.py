"""Set-up commands: init (with the demo), status."""
from __future__ import annotations

import click

import storage

from annotate import projects as project_lib
from annotate.cli.base import cli, echo_json, open_db
from annotate.data.first_start import create_demo_once
from annotate.labeling import annotators as annotator_lib

@cli.command("init")
@click.option("--demo/--no-demo", default=False,
              help="In a fresh database, also create the demo projects and accounts and print their invite links.")
@click.pass_context
def init_command(ctx: click.Context, demo: bool) -> None:
    """Create the database (a DuckDB file, or the tables of a postgresql:// database) and apply migrations."""
    conn = open_db(ctx)
    click.echo(f"Database ready: {storage.pg.redact(str(ctx.find_root().obj['db_path']))}")
    tokens = create_demo_once(conn) if demo else None  # never twice, also beside starting app servers
    if demo and tokens is None:
        click.echo("The database already has projects or accounts; no demo created. "
                   "A lost invite link: python -m annotate annotators reset-token NAME")
    elif demo:
        click.echo(annotator_lib.shown_once("Created the demo projects. Invite links"))
        for name, token in tokens.items():
            click.echo(f"  {name}: {annotator_lib.invite_link(token)}")


@cli.command("status")
@click.option("--project", "-p", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def status_command(ctx, project: str, as_json: bool) -> None:
    """Counts for a project: items, human labels, judge labels, annotators."""
    status = project_lib.project_status(open_db(ctx), project)
    if as_json:
        echo_json(status)
    else:
        for key, value in status.items():
            click.echo(f"{key:>13}: {value}")
