"""The review queue: list what needs a look, resolve a flag, re-queue, adjudicate a final label."""
from __future__ import annotations

import click

from annotate.cli.base import cli, echo_json, open_db
from annotate.errors import AnnotateError
from annotate.labeling import review as review_lib
from annotate.projects import get_project
from annotate.signs import SIGN


@cli.group("review")
def review_group() -> None:
    """The researchers' review queue (the Review page): flags, skips, splits, judge disagreements."""


@review_group.command("list")
@click.option("--project", "-p", required=True)
@click.option("--reason", "reasons", multiple=True, type=click.Choice(list(review_lib.REASONS)),
              help="Only items with this reason (repeatable; default: all).")
@click.option("--status", type=click.Choice(review_lib.STATUSES), default="open", show_default=True)
@click.option("--annotator", help="Only items this annotator labeled, flagged or skipped.")
@click.option("--json", "as_json", is_flag=True, help="Print counts, items and annotators as JSON.")
@click.pass_context
def list_command(ctx, project: str, reasons: tuple[str, ...], status: str, annotator: str | None,
                 as_json: bool) -> None:
    """List the items that need a researcher, with counts per reason."""
    queue = review_lib.review_queue(open_db(ctx), project, reasons=reasons, status=status, annotator=annotator)
    if as_json:
        echo_json(queue.as_dict())
        return
    for row in queue.counts.itertuples():
        click.echo(f"{row.label}: {row.open} open, {row.closed} closed")
    for row in queue.items.itertuples():
        click.echo(f"{row.id}  [{row.status}]  {row.reasons}  humans: {row.human_labels or '-'}  "
                   f"judges: {row.judges or '-'}")
    low = queue.annotators[queue.annotators["is_low"]]
    for row in low.itertuples():
        click.echo(f"Low agreement: {row.annotator} agrees with the others on {row.agreement:.0%} of {row.compared}")


@review_group.command("resolve")
@click.option("--project", "-p", required=True)
@click.argument("item")
@click.option("--by", "researcher", required=True, help="The researcher's name.")
@click.option("--note", required=True, help="What was done about it.")
@click.pass_context
def resolve_command(ctx, project: str, item: str, researcher: str, note: str) -> None:
    """Close an item's flags, skips and disagreements with a note (ITEM: the dataset's id)."""
    review_lib.resolve_item(open_db(ctx), project, item, researcher, note)
    click.echo(f"Resolved item '{item}' of '{project}'")


@review_group.command("requeue")
@click.option("--project", "-p", required=True)
@click.argument("item")
@click.option("--by", "researcher", required=True, help="The researcher's name.")
@click.option("--more", type=click.IntRange(min=1), default=1, show_default=True, help="Human labels wanted.")
@click.option("--note")
@click.pass_context
def requeue_command(ctx, project: str, item: str, researcher: str, more: int, note: str | None) -> None:
    """Send an item back to the annotators for more human labels."""
    review_lib.requeue_item(open_db(ctx), project, item, researcher, more, note)
    click.echo(f"Item '{item}' of '{project}' is back in the queue for {more} more label(s)")


@review_group.command("adjudicate")
@click.option("--project", "-p", required=True)
@click.argument("item")
@click.option("--by", "researcher", required=True, help="The researcher's name.")
@click.option("--label", "labels", multiple=True, metavar="[ASPECT=]VALUE",
              help="Pairwise: A, B, tie or a signed value on the scale (negative: A better), for 'overall' "
                   "or ASPECT=VALUE. Rubric: RESPONSE:CRITERION=SCORE (response numbers from 1). Repeatable.")
@click.option("--both-bad", is_flag=True, help="Pairwise: both responses are bad.")
@click.option("--note", help="Why (kept with the label).")
@click.pass_context
def adjudicate_command(ctx, project: str, item: str, researcher: str, labels: tuple[str, ...], both_bad: bool,
                       note: str | None) -> None:
    """Record the final label of an item (source 'adjudicated'); exports use it."""
    conn = open_db(ctx)
    values = parse_labels(get_project(conn, project), labels)
    event_id = review_lib.adjudicate_item(conn, project, item, researcher, values, both_bad=both_bad, note=note)
    click.echo(f"Adjudicated item '{item}' of '{project}' (label event {event_id})")


def parse_labels(project, labels: tuple[str, ...]) -> dict:
    """--label options as record_label values; A / B / tie take the scale's weakest strength."""
    if not labels:
        raise AnnotateError("Give the final label with --label (e.g. --label B)")
    if project.task_type == "pairwise":
        weakest = min(p.value for p in project.config.scale if p.value > 0)
        values = {}
        for text in labels:
            aspect, _, value = text.rpartition("=")
            value = value.strip()
            try:
                values[aspect or "overall"] = SIGN[value] * weakest if value in SIGN else int(value)
            except ValueError:
                raise AnnotateError(f"--label {text!r}: use A, B, tie or a signed whole number") from None
        return values
    scores: dict[int, dict[str, float]] = {}
    for text in labels:
        try:
            where, score = text.split("=")
            response, criterion = where.split(":")
            scores.setdefault(int(response) - 1, {})[criterion.strip()] = float(score)
        except ValueError:
            raise AnnotateError(f"--label {text!r}: use RESPONSE:CRITERION=SCORE, e.g. 1:helpfulness=4") from None
    return scores
