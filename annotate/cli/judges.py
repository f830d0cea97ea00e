"""AI judges: judge run / list."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from annotate import judges as judge_lib
from annotate.cli.base import Group, cli, echo_json, open_db
from annotate.judges import summary

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
    from tqdm import tqdm
    config = judge_lib.parse_judge_config(Path(config_path))
    with tqdm(unit="judgment", file=sys.stderr, desc=config.name) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
        conn = open_db(ctx)
        judge_lib.mark_interrupted_runs(conn)  # this process holds the file: no other one is running judges
        report = judge_lib.run_judge(conn, project, config, batch_size=batch_size, limit=limit,
                                     retry_unparsed=retry_unparsed, progress=progress)
    problem = summary.run_problem(judge_lib.get_run(conn, report.run_id))
    if as_json:
        echo_json(report.as_dict() | {"problem": problem})
    else:
        click.echo(f"Run {report.run_id} ({report.status}): {report.n_done} of {report.n_total} judgments stored, "
                   f"{report.n_unparsed} unparsed ({report.n_errors} request errors)")
        if problem and report.status != "failed":
            click.echo(problem)
    if report.status == "failed":
        raise click.ClickException(f"Run {report.run_id} failed: {problem}")


@judge_group.command("list")
@click.option("--project", "-p", required=True)
@click.option("--runs", "show_runs", is_flag=True, help="List the project's runs instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def judge_list(ctx, project: str, show_runs: bool, as_json: bool) -> None:
    """List a project's judges (run and imported) with their judgment counts, or its runs."""
    conn = open_db(ctx)
    judge_lib.mark_interrupted_runs(conn)
    frame = judge_lib.list_runs(conn, project) if show_runs else judge_lib.list_judges(conn, project)
    if as_json:
        echo_json(frame.to_dict("records"))
    else:
        click.echo(frame.drop(columns=["options"], errors="ignore").to_string(index=False) if len(frame)
                   else f"No judges in '{project}' yet.")
