"""Data out: export, backup, restore."""
from __future__ import annotations

from pathlib import Path

import click

from annotate.cli.base import cli, echo_json, open_db
from annotate.data import backup as backup_lib, export as export_lib


DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


@cli.command("export")
@click.option("--project", "-p", required=True)
@click.option("--format", "fmt", type=click.Choice(export_lib.FORMATS), required=True,
              help="<kind>-<jsonl|parquet|csv> (kinds: dpo, helpsteer2, rubric, events, judgments) or hf.")
@click.option("--out", required=True, type=click.Path(), help="Output file (a folder for hf).")
@click.option("--min-agreement", type=click.FloatRange(0, 1), help="Keep items whose raters agree at least this.")
@click.option("--exclude-ties", is_flag=True,
              help="Drop pairs whose final label is a tie (kept unless given; the Export page drops them from DPO "
                   "by default).")
@click.option("--exclude-both-bad", is_flag=True,
              help="Drop pairs most raters marked 'both bad' (kept unless given; the Export page drops them from "
                   "DPO by default).")
@click.option("--source", "sources", multiple=True, type=click.Choice(export_lib.SOURCES),
              help="Keep labels from these sources (repeatable).")
@click.option("--aspect", "aspects", multiple=True, help="Keep these aspects or criteria (repeatable).")
@click.option("--since", type=click.DateTime(DATE_FORMATS), help="Only labels and judgments from then (UTC).")
@click.option("--until", type=click.DateTime(DATE_FORMATS), help="Only labels and judgments before then (UTC).")
@click.option("--annotator", "annotators", multiple=True, help="Only these annotators' labels (repeatable).")
@click.option("--method", type=click.Choice(["majority", "dawid-skene", "mean", "median"]),
              help="Human label aggregation (default: majority for pairwise, mean for rubric).")
@click.option("--judge", help="Fallback judge (name or id): AI label for items without human labels.")
@click.option("--card", type=click.Path(dir_okay=False), help="Also write the dataset card here (file formats).")
@click.option("--push-to", help="Hub dataset repo id to push the hf export to (needs HF_TOKEN, online).")
@click.option("--include-excluded", is_flag=True,
              help="Crowd studies: keep the labels of excluded participants (left out by default; the card says "
                   "how many).")
@click.option("--with-participant-ids", is_flag=True,
              help="Crowd studies: add the participants' platform ids (PROLIFIC_PID, workerId) to each row "
                   "(kept out by default).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def export_command(ctx, project, fmt, out, min_agreement, exclude_ties, exclude_both_bad, sources, aspects,
                   since, until, annotators, method, judge, card, push_to, include_excluded, with_participant_ids,
                   as_json) -> None:
    """Export preference pairs, rubric scores or raw audit tables, with provenance."""
    if fmt != "hf" and Path(out).is_dir():
        example = Path(out) / f"{project}.{fmt.rsplit('-', 1)[-1]}"
        raise click.ClickException(f"--out {out} is a folder; give the name of the file to write, e.g. {example}")
    filters = export_lib.ExportFilters(min_agreement=min_agreement, exclude_ties=exclude_ties,
                                       exclude_both_bad=exclude_both_bad, sources=sources, aspects=aspects,
                                       since=since, until=until, annotators=annotators,
                                       include_excluded=include_excluded, with_participant_ids=with_participant_ids)
    report = export_lib.export_dataset(open_db(ctx), project, fmt, out, filters, method=method, judge=judge,
                                       card=card, push_to=push_to)
    if as_json:
        echo_json(report)
        return
    steps = ", ".join(f"{k} {v}" for k, v in report["counts"].items())
    click.echo(f"Exported {report['rows']} rows of '{project}' as {fmt} to {report['out']} ({steps})")
    if report["exclusion"].get("participants") or report["exclusion"].get("check_answers"):
        click.echo(report["exclusion"]["statement"])


@cli.command("backup")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="New folder for the backup.")
@click.option("--timeout", type=click.FloatRange(min=1), default=backup_lib.DEFAULT_TIMEOUT, show_default=True,
              help="Seconds to wait for the running app when it holds the database.")
@click.pass_context
def backup_command(ctx, out: str, timeout: float) -> None:
    """Snapshot every table to Parquet with a manifest (works while the app is running; DuckDB or PostgreSQL)."""
    manifest = backup_lib.backup_database(ctx.find_root().obj["db_path"], out, timeout)
    rows = sum(entry["rows"] for entry in manifest["tables"].values())
    click.echo(f"Backed up {len(manifest['tables'])} tables ({rows} rows, schema version "
               f"{manifest['schema_version']}, {manifest['engine']}) to {out}")


@cli.command("restore")
@click.option("--from", "source", required=True, type=click.Path(exists=True, file_okay=False),
              help="A backup folder written by `backup`.")
@click.option("--db", "target", required=True, type=click.Path(dir_okay=False),
              help="The new database: a DuckDB file to create, or a postgresql:// URL of an empty database.")
def restore_command(source: str, target: str) -> None:
    """Rebuild a database from a backup (of either engine) into a new file or an empty PostgreSQL database;
    says what was verified (counts, checksums)."""
    summary = backup_lib.restore_database(source, target)
    click.echo(backup_lib.describe_restore(summary, target))
