"""Data in: import."""
from __future__ import annotations

from pathlib import Path

import click

from annotate.cli.base import cli, echo_json, open_db
from annotate.config import read_config_file
from annotate.data.adapters import ADAPTERS, import_items
from annotate.data.importers import FORMATS, SHAPES, describe_report, parse_mapping
from annotate.errors import ImportDataError


@cli.command("import")
@click.argument("source", required=False, type=click.Path(exists=True))
@click.option("--project", "-p", required=True, help="Project name (a pairwise project is created if it does not "
              "exist; create a rubric project first with `projects create`).")
@click.option("--adapter", type=click.Choice(ADAPTERS), help="A built-in dataset adapter.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="File format (default: from the extension).")
@click.option("--shape", type=click.Choice(SHAPES), default="items", show_default=True,
              help="items: one row per item (or per item and criterion with --map criterion=COL); judgments: one "
                   "row per item, judge and presented order; labels: one row per item and annotator.")
@click.option("--task-type", type=click.Choice(["pairwise", "rubric"]),
              help="Check that the project has this task type (a new rubric project is made by `projects create`).")
@click.option("--map", "maps", multiple=True, metavar="FIELD=COLUMN",
              help="Column mapping, e.g. --map prompt=instruction --map human.alice=alice_label "
                   "--map judge.gpt4=verdict_ab --map judge.gpt4@BA=verdict_ba --map human.*=human_labels "
                   "--map gold=answer.")
@click.option("--mapping", "mapping_file", type=click.Path(exists=True, dir_okay=False),
              help="A JSON or YAML file with the column mapping (fields as for --map).")
@click.option("--judge-terms", type=click.Choice(["canonical", "presented"]),
              help="Verdicts with B shown first (judge.NAME@BA) name A/B as stored (canonical, the default) or as "
                   "shown (presented: 'A' is the response shown first).")
@click.option("--hf", "hf_dataset", help="A Hugging Face dataset id (needs the network).")
@click.option("--split", "hf_split", help="Split of the Hugging Face dataset.")
@click.option("--on-duplicate", type=click.Choice(["error", "skip"]), default="error", show_default=True,
              help="Ids the project already has: an error, or keep those items and add only the labels and "
                   "judgments they do not have yet.")
@click.option("--dry-run", is_flag=True, help="Read and check everything, print what would be imported, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_command(ctx, source, project, adapter, fmt, shape, task_type, maps, mapping_file, judge_terms, hf_dataset,
                   hf_split, on_duplicate, dry_run, as_json) -> None:
    """Import items (and existing labels and judgments) from SOURCE, all or nothing."""
    base = read_config_file(mapping_file) if mapping_file else {}
    if not isinstance(base, dict):
        raise ImportDataError(f"{Path(mapping_file).name}: expected an object of FIELD: COLUMN")
    if judge_terms:
        base["judge_terms"] = judge_terms
    mapping = parse_mapping(maps, base)
    report = import_items(open_db(ctx), project, source, adapter=adapter, fmt=fmt, mapping=mapping,
                          hf_dataset=hf_dataset, hf_split=hf_split, task_type=task_type,
                          on_duplicate=on_duplicate, shape=shape, dry_run=dry_run)
    if as_json:
        echo_json(report.as_dict())
        return
    for line in describe_report(report):
        click.echo(line)
