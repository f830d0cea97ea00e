"""Set-up commands: init (with the demo), projects, status."""
from __future__ import annotations

import click

from annotate import projects as project_lib
from annotate.cli import projects as project_commands
from annotate.cli.base import cli, echo_json, open_db
from annotate.data.demo import create_demo, is_demo_needed
from annotate.labeling import annotators as annotator_lib

@cli.command("init")
@click.option("--demo/--no-demo", default=False,
              help="In a fresh database, also create the demo projects and accounts and print their invite links.")
@click.pass_context
def init_command(ctx: click.Context, demo: bool) -> None:
    """Create the database file (and apply migrations)."""
    conn = open_db(ctx)
    click.echo(f"Database ready: {ctx.find_root().obj['db_path']}")
    if demo and not is_demo_needed(conn):
        click.echo("The database already has projects or accounts; no demo created. "
                   "A lost invite link: python -m annotate annotators reset-token NAME")
    elif demo:
        click.echo(annotator_lib.shown_once("Created the demo projects. Invite links"))
        for name, token in create_demo(conn).items():
            click.echo(f"  {name}: {annotator_lib.invite_link(token)}")


@cli.group("projects", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--archived", is_flag=True, help="List the archived projects too.")
@click.pass_context
def projects_command(ctx, as_json: bool, archived: bool) -> None:
    """List projects with their item counts; create, show, edit, archive or delete one."""
    if ctx.invoked_subcommand is not None:
        return
    frame = project_lib.list_projects(open_db(ctx), include_archived=archived)
    if not archived:
        frame = frame.drop(columns=["archived_at"])
    if as_json:
        echo_json(frame.to_dict("records"))
    else:
        click.echo(frame.to_string(index=False) if len(frame) else "No projects yet.")


projects_command.add_command(project_commands.create_command)
projects_command.add_command(project_commands.show_command)
projects_command.add_command(project_commands.edit_command)
projects_command.add_command(project_commands.archive_command)
projects_command.add_command(project_commands.restore_command)
projects_command.add_command(project_commands.delete_command)


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
