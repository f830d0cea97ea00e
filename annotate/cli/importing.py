"""Data in: import."""
from __future__ import annotations

import json
from pathlib import Path

import click

from annotate.cli.base import cli, echo_json, open_db
from annotate.data.adapters import ADAPTERS, import_items
from annotate.data.importers import FORMATS, ColumnMapping


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
