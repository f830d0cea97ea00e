"""Move projects between databases: `python -m annotate migrate --from FILE.duckdb --to postgresql://...`."""
from __future__ import annotations

import click

from annotate.cli.base import cli, echo_json
from annotate.data import migrate as migrate_lib


@cli.command("migrate")
@click.option("--from", "source", required=True, metavar="DB",
              help="The database to copy from: a DuckDB file or a postgresql:// URL (only read).")
@click.option("--to", "target", required=True, metavar="DB",
              help="The database to copy into: a postgresql:// URL or a DuckDB file (created when new).")
@click.option("--project", "-p", "projects", multiple=True,
              help="A project to move (repeatable); without it every project moves, with the accounts.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts per table as JSON.")
def migrate_command(source: str, target: str, projects: tuple[str, ...], as_json: bool) -> None:
    """Copy projects to another database in one transaction, with verified counts per table.

    Ids are kept when the target is empty and shifted past the target's own otherwise; annotators and
    judges the target already has (same name, same config) are used instead of copies. A project name
    the target already has is refused. The source is left as it was.
    """
    counts = migrate_lib.migrate_projects(source, target, projects)
    if as_json:
        echo_json(counts)
        return
    click.echo(migrate_lib.format_counts(counts))
    moved = next(c["source"] for c in counts if c["table"] == "projects")
    click.echo(f"Moved {moved} project(s) to {migrate_lib.shown(target)} in one transaction; every table's count "
               f"in the target matches the source.")
