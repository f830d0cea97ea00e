"""The command line: `python -m annotate [--db PATH] COMMAND`.

Each command is a thin adapter: open the database, call one library function, print the result.
Library errors become a one-line message and exit status 1 (click's ClickException).
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import duckdb

import storage
from annotate import annotators as annotator_lib, projects as project_lib
from annotate.adapters import ADAPTERS, import_items
from annotate.demo import create_demo
from annotate.errors import AnnotateError
from annotate.importers import FORMATS, ColumnMapping


class Group(click.Group):
    """A click group that turns our named errors into clean CLI errors."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (AnnotateError, storage.StoreError) as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=Group)
@click.option("--db", "db_path", type=click.Path(dir_okay=False), envvar=storage.db.DB_ENV_VAR,
              default=str(storage.DEFAULT_DB_PATH), show_default=True,
              help="DuckDB file (or set $ANNOTATE_DB).")
@click.pass_context
def cli(ctx: click.Context, db_path: str) -> None:
    """Human + AI preference annotation: import, label, judge, route, measure, export."""
    ctx.obj = {"db_path": db_path}


def open_db(ctx: click.Context) -> duckdb.DuckDBPyConnection:
    """The command's connection, opened once and closed when the command ends."""
    root = ctx.find_root()
    if "conn" not in root.obj:
        root.obj["conn"] = storage.connect(root.obj["db_path"])
        root.call_on_close(root.obj["conn"].close)
    return root.obj["conn"]


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@cli.command("init")
@click.option("--demo/--no-demo", default=False, help="Also create the demo project and accounts.")
@click.pass_context
def init_command(ctx: click.Context, demo: bool) -> None:
    """Create the database file (and apply migrations)."""
    conn = open_db(ctx)
    click.echo(f"Database ready: {ctx.find_root().obj['db_path']}")
    if demo:
        for name, token in create_demo(conn).items():
            click.echo(f"{name}: {annotator_lib.invite_link(token)}")


@cli.command("import")
@click.argument("source", required=False, type=click.Path(exists=True))
@click.option("--project", "-p", required=True, help="Project name (created if it does not exist).")
@click.option("--adapter", type=click.Choice(ADAPTERS), help="A built-in dataset adapter.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="File format (default: from the extension).")
@click.option("--task-type", type=click.Choice(["pairwise", "rubric"]), default="pairwise", show_default=True,
              help="Task type of a new project for a generic file.")
@click.option("--map", "maps", multiple=True, metavar="FIELD=COLUMN",
              help="Column mapping, e.g. --map prompt=instruction --map response_a=output_1.")
@click.option("--mapping", "mapping_file", type=click.Path(exists=True, dir_okay=False),
              help="A JSON file with the column mapping (fields as for --map).")
@click.option("--hf", "hf_dataset", help="A Hugging Face dataset id (needs the network).")
@click.option("--split", "hf_split", help="Split of the Hugging Face dataset.")
@click.option("--on-duplicate", type=click.Choice(["error", "skip"]), default="error", show_default=True,
              help="What to do with ids the project already has.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_command(ctx, source, project, adapter, fmt, task_type, maps, mapping_file, hf_dataset, hf_split,
                   on_duplicate, as_json) -> None:
    """Import items (and existing labels and judgments) from SOURCE, all or nothing."""
    mapping = _mapping(maps, mapping_file)
    report = import_items(open_db(ctx), project, source, adapter=adapter, fmt=fmt, mapping=mapping,
                          hf_dataset=hf_dataset, hf_split=hf_split, task_type=task_type,
                          on_duplicate=on_duplicate)
    if as_json:
        echo_json(report.as_dict())
        return
    click.echo(f"Imported {report.items} items, {report.label_events} human labels and {report.judgments} "
               f"judgments into '{report.project}'" +
               (f"; skipped {report.skipped_duplicates} existing ids" if report.skipped_duplicates else ""))
    for note in report.notes:
        click.echo(f"note: {note}")


def _mapping(maps: tuple[str, ...], mapping_file: str | None) -> ColumnMapping | None:
    data = json.loads(Path(mapping_file).read_text(encoding="utf-8")) if mapping_file else {}
    for item in maps:
        field, sep, column = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected FIELD=COLUMN, got {item!r}", param_hint="--map")
        if field in ("responses", "models", "metadata"):
            data[field] = column.split(",")
        elif field.startswith(("human.", "judge.")):
            kind, _, name = field.partition(".")
            data.setdefault(f"{kind}_labels", {})[name] = column
        else:
            data[field] = column
    if not data:
        return None
    try:
        return ColumnMapping.model_validate(data)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--map/--mapping") from None


@cli.command("projects")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def projects_command(ctx, as_json: bool) -> None:
    """List projects with their item counts."""
    frame = storage.projects.list_projects(storage.cursor(open_db(ctx)))
    if as_json:
        echo_json(frame.to_dict("records"))
    else:
        click.echo(frame.to_string(index=False) if len(frame) else "No projects yet.")


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


@cli.group("annotators", cls=Group)
def annotators_group() -> None:
    """Manage annotators and their invite links."""


@annotators_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(annotator_lib.ROLES), default="annotator", show_default=True)
@click.pass_context
def annotators_add(ctx, name: str, role: str) -> None:
    """Create an annotator and print the invite link (shown only once)."""
    annotator, token = annotator_lib.add_annotator(open_db(ctx), name, role)
    click.echo(f"Created {annotator['role']} '{annotator['name']}'. Invite link (shown once):")
    click.echo(annotator_lib.invite_link(token))


@annotators_group.command("list")
@click.pass_context
def annotators_list(ctx) -> None:
    """List annotators (never their tokens)."""
    frame = annotator_lib.list_annotators(open_db(ctx))
    click.echo(frame.to_string(index=False) if len(frame) else "No annotators yet.")


@annotators_group.command("deactivate")
@click.argument("name")
@click.pass_context
def annotators_deactivate(ctx, name: str) -> None:
    """Deactivate an annotator: the invite link stops working; labels stay."""
    annotator_lib.set_active(open_db(ctx), name, False)
    click.echo(f"Deactivated '{name}'.")


@annotators_group.command("reset-token")
@click.argument("name")
@click.pass_context
def annotators_reset_token(ctx, name: str) -> None:
    """Revoke an annotator's invite link and print a new one (shown once)."""
    token = annotator_lib.reset_token(open_db(ctx), name)
    click.echo(annotator_lib.invite_link(token))


def main() -> None:
    cli(prog_name="python -m annotate")
