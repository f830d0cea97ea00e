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
from annotate.demo import create_demo, is_demo_needed
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
        click.echo("Created the demo projects. Invite links (shown once):")
        for name, token in create_demo(conn).items():
            click.echo(f"  {name}: {annotator_lib.invite_link(token)}")


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


from annotate import export as export_lib  # noqa: E402  (kept beside its command, appended)

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


@cli.command("export")
@click.option("--project", "-p", required=True)
@click.option("--format", "fmt", type=click.Choice(export_lib.FORMATS), required=True,
              help="<kind>-<jsonl|parquet|csv> (kinds: dpo, helpsteer2, rubric, events, judgments) or hf.")
@click.option("--out", required=True, type=click.Path(), help="Output file (a folder for hf).")
@click.option("--min-agreement", type=click.FloatRange(0, 1), help="Keep items whose raters agree at least this.")
@click.option("--exclude-ties", is_flag=True, help="Drop pairs whose final label is a tie.")
@click.option("--exclude-both-bad", is_flag=True, help="Drop pairs most raters marked 'both bad'.")
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
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def export_command(ctx, project, fmt, out, min_agreement, exclude_ties, exclude_both_bad, sources, aspects,
                   since, until, annotators, method, judge, card, push_to, as_json) -> None:
    """Export preference pairs, rubric scores or raw audit tables, with provenance."""
    filters = export_lib.ExportFilters(min_agreement=min_agreement, exclude_ties=exclude_ties,
                                       exclude_both_bad=exclude_both_bad, sources=sources, aspects=aspects,
                                       since=since, until=until, annotators=annotators)
    report = export_lib.export_dataset(open_db(ctx), project, fmt, out, filters, method=method, judge=judge,
                                       card=card, push_to=push_to)
    if as_json:
        echo_json(report)
        return
    steps = ", ".join(f"{k} {v}" for k, v in report["counts"].items())
    click.echo(f"Exported {report['rows']} rows of '{project}' as {fmt} to {report['out']} ({steps})")


from annotate import agreement as agreement_lib, report as report_lib  # noqa: E402  (appended)


@cli.command("agreement")
@click.option("--project", "-p", required=True)
@click.option("--aspect", default="overall", show_default=True, help="Aspect (pairwise) or criterion (rubric).")
@click.option("--tie-policy", type=click.Choice(agreement_lib.TIE_POLICIES), default="with_ties", show_default=True,
              help="with_ties: a tie is a category (MT-Bench S1); without_ties: drop comparisons with a tie (S2).")
@click.option("--metadata", "metadata", metavar="KEY=VALUE", help="Only items whose metadata KEY equals VALUE.")
@click.option("--calibration-only", is_flag=True, help="Only the router's calibration items.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples of items for the intervals (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.pass_context
def agreement_command(ctx, project, aspect, tie_policy, metadata, calibration_only, n_boot, seed, as_json) -> None:
    """Judges vs humans against the human ceiling: agreement, kappa, alpha, bias, rankings."""
    key, sep, value = (metadata or "").partition("=")
    if metadata and not sep:
        raise click.BadParameter(f"expected KEY=VALUE, got {metadata!r}", param_hint="--metadata")
    filters = report_lib.ReportFilters(aspect, tie_policy, (key, value) if metadata else None, calibration_only,
                                       n_boot, seed)
    report = report_lib.build_report(open_db(ctx), project, filters)
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(report_lib.format_report(report))


from annotate import judges as judge_lib  # noqa: E402  (appended)


@cli.group("judge", cls=Group)
def judge_group() -> None:
    """Run AI judges (reward models, local LLMs, OpenAI-compatible endpoints) and list them."""


@judge_group.command("run")
@click.option("--project", "-p", required=True)
@click.option("--judge", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Judge config JSON (name, backend, model, template, ...).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Prompts per forward pass or per set of concurrent requests.")
@click.option("--limit", type=click.IntRange(min=0), help="Judge at most this many (not yet judged) items.")
@click.option("--retry-unparsed", is_flag=True, help="Ask again where earlier answers did not parse.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.pass_context
def judge_run(ctx, project: str, config_path: str, batch_size: int, limit: int | None, retry_unparsed: bool,
              as_json: bool) -> None:
    """Judge a project's items (pairwise: both orders); resumes where the same judge stopped."""
    import sys
    from tqdm import tqdm
    config = judge_lib.parse_judge_config(Path(config_path))
    with tqdm(unit="judgment", file=sys.stderr, desc=config.name) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
        report = judge_lib.run_judge(open_db(ctx), project, config, batch_size=batch_size, limit=limit,
                                     retry_unparsed=retry_unparsed, progress=progress)
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(f"Run {report.run_id} ({report.status}): {report.n_done} of {report.n_total} judgments stored, "
                   f"{report.n_unparsed} unparsed ({report.n_errors} request errors)")


@judge_group.command("list")
@click.option("--project", "-p", required=True)
@click.option("--runs", "show_runs", is_flag=True, help="List the project's runs instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def judge_list(ctx, project: str, show_runs: bool, as_json: bool) -> None:
    """List a project's judges (run and imported) with their judgment counts, or its runs."""
    conn = open_db(ctx)
    frame = judge_lib.list_runs(conn, project) if show_runs else judge_lib.list_judges(conn, project)
    if as_json:
        echo_json(frame.to_dict("records"))
    else:
        click.echo(frame.drop(columns=["options"], errors="ignore").to_string(index=False) if len(frame)
                   else f"No judges in '{project}' yet.")


from annotate import router as router_lib  # noqa: E402  (appended)


@cli.group("router", cls=Group)
def router_group() -> None:
    """Route items to humans or the AI judge within a budget; simulate strategies."""


@router_group.command("simulate")
@click.option("--project", "-p", required=True)
@click.option("--judge", "-j", required=True, help="The primary judge (its verdict is the AI label).")
@click.option("--budgets", default="0.1,0.2,0.3,0.5", show_default=True, help="Shares of the items, comma-separated.")
@click.option("--seeds", default=5, show_default=True, help="Seeds 0..N-1 per strategy and budget.")
@click.option("--strategies", default=",".join(router_lib.simulate_module.DEFAULT_STRATEGIES), show_default=True)
@click.option("--embeddings/--no-embeddings", default=False, help="Add the MiniLM cosine feature (cached).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def router_simulate(ctx, project, judge, budgets, seeds, strategies, embeddings, as_json) -> None:
    """Replay routing against the project's human labels; accuracy and budget-curve area per strategy."""
    try:
        shares = [float(b) for b in budgets.split(",") if b.strip()]
    except ValueError:
        raise click.BadParameter(f"expected shares like 0.1,0.3, got {budgets!r}", param_hint="--budgets") from None
    result = router_lib.simulate(open_db(ctx), project, judge, shares, seeds,
                                 tuple(s.strip() for s in strategies.split(",") if s.strip()), embeddings=embeddings)
    if as_json:
        echo_json(result.as_dict())
        return
    click.echo(result.summary.pivot(index="strategy", columns="budget", values="mean").round(3).to_string())
    click.echo(result.auc.round(4).to_string(index=False))


@router_group.command("apply")
@click.option("--project", "-p", required=True)
@click.option("--judge", "-j", required=True)
@click.option("--strategy", "-s", type=click.Choice(router_lib.STRATEGIES), default="learned", show_default=True)
@click.option("--budget", "-b", required=True, help="Human labels (300), a share of items (0.3 or 30%) or money ($120).")
@click.option("--overlap", type=int, help="Labels per human item (default: the project's overlap k).")
@click.option("--every-n", default=router_lib.routing.DEFAULT_EVERY_N, show_default=True,
              help="Re-rank pending items after this many new human labels.")
@click.option("--seed", default=0, show_default=True)
@click.option("--embeddings/--no-embeddings", default=False, help="Add the MiniLM cosine feature (cached).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def router_apply(ctx, project, judge, strategy, budget, overlap, every_n, seed, embeddings, as_json) -> None:
    """Route every item to humans or the AI and write the decisions (the queue serves them)."""
    conn = open_db(ctx)
    config = project_lib.get_project(conn, project).config
    parsed = router_lib.parse_budget(budget, overlap or config.overlap, config.cost_per_human_label,
                                     config.cost_per_judge_call)
    plan = router_lib.apply_routing(conn, project, judge, strategy, parsed, seed, every_n, embeddings)
    summary = {"project": project, "strategy": strategy, "judge": judge, "human_items": int(plan.n_human),
               "calibration_items": plan.n_calibration, "routed_human": int((plan.decisions["route"] == "human").sum()),
               "routed_ai": int((plan.decisions["route"] == "ai").sum()), "model_version": plan.model_version}
    if as_json:
        echo_json(summary)
    else:
        for key, value in summary.items():
            click.echo(f"{key:>17}: {value}")


from annotate import backup as backup_lib  # noqa: E402  (appended)


@cli.command("backup")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="New folder for the backup.")
@click.option("--timeout", type=click.FloatRange(min=1), default=backup_lib.DEFAULT_TIMEOUT, show_default=True,
              help="Seconds to wait for the running app when it holds the database.")
@click.pass_context
def backup_command(ctx, out: str, timeout: float) -> None:
    """Snapshot every table to Parquet with a manifest (works while the app is running)."""
    manifest = backup_lib.backup_database(ctx.find_root().obj["db_path"], out, timeout)
    rows = sum(entry["rows"] for entry in manifest["tables"].values())
    click.echo(f"Backed up {len(manifest['tables'])} tables ({rows} rows, schema version "
               f"{manifest['schema_version']}) to {out}")


@cli.command("restore")
@click.option("--from", "source", required=True, type=click.Path(exists=True, file_okay=False),
              help="A backup folder written by `backup`.")
@click.option("--db", "target", required=True, type=click.Path(dir_okay=False),
              help="The new database file to create.")
def restore_command(source: str, target: str) -> None:
    """Rebuild a database from a backup into a new file; counts and checksums are verified."""
    summary = backup_lib.restore_database(source, target)
    rows = sum(entry["rows"] for entry in summary.values())
    click.echo(f"Restored {len(summary)} tables ({rows} rows) into {target}; counts and checksums match")


def main() -> None:
    cli(prog_name="python -m annotate")
