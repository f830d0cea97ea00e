"""Crowd studies: the public study link, settings, check items, status for pay, the participants CSV."""
from __future__ import annotations

import os

import click

from annotate.cli.base import cli, echo_json, open_db
from annotate.errors import AnnotateError
from annotate.labeling.annotators import BASE_URL_ENV
from annotate.projects import get_project
from annotate.study import checks, links, participants, reports

PLATFORM_HELP = {"prolific": "paste it as the study URL on Prolific (it fills in PROLIFIC_PID, STUDY_ID and "
                             "SESSION_ID); set the completion code there to the study's completion code",
                 "mturk": "put it in a survey-link HIT whose page passes workerId, assignmentId and hitId on "
                          "(README: Run a crowd study); workers paste the completion code into the HIT",
                 "generic": "replace PARTICIPANT_ID by each participant's id"}


@cli.group("study")
def study_group() -> None:
    """Crowd studies (Prolific, MTurk): the study link, settings, check items, status and payment CSV."""


@study_group.command("open")
@click.option("--project", "-p", required=True)
@click.option("--platform", type=click.Choice(links.PLATFORMS), default="prolific", show_default=True,
              help="Which platform's participant parameters the printed URL carries.")
@click.option("--replace", is_flag=True, help="Replace the open link (the old one stops admitting participants).")
@click.pass_context
def open_command(ctx, project: str, platform: str, replace: bool) -> None:
    """Open the project's public study link and print the URL to paste into the platform (shown once)."""
    conn = open_db(ctx)
    secret = links.open_link(conn, get_project(conn, project), replace=replace)
    click.echo(f"Study link of '{project}' (shown once; {PLATFORM_HELP[platform]}):")
    click.echo(links.study_url(secret, platform))
    for other in links.PLATFORMS:
        if other != platform:
            click.echo(f"For {other}: {links.study_url(secret, other)}")
    if not os.environ.get(BASE_URL_ENV):
        click.echo(f"The URLs start at the app's address; set {BASE_URL_ENV} to print full ones.")


@study_group.command("revoke")
@click.option("--project", "-p", required=True)
@click.pass_context
def revoke_command(ctx, project: str) -> None:
    """Close the study link: nobody new can enter (participants who entered can finish)."""
    conn = open_db(ctx)
    closed = links.revoke_link(conn, get_project(conn, project))
    click.echo(f"Closed the study link of '{project}'" if closed else f"Project '{project}' had no open study link")


@study_group.command("settings")
@click.option("--project", "-p", required=True)
@click.option("--quota", type=click.IntRange(min=1), help="Items per participant after training (checks included).")
@click.option("--cap", "max_participants", type=click.IntRange(min=0),
              help="Places in the study (0: no cap).")
@click.option("--completion-code", help="The code shown when the quota is done.")
@click.option("--redirect-url", help="Where participants go back to the platform; {code} becomes their code.")
@click.option("--qualification-code", help="The code for those who end after training.")
@click.option("--consent", "consent_text", help="Consent text (a participant must accept it first).")
@click.option("--consent-file", type=click.File(encoding="utf-8"), help="Consent text from a file.")
@click.option("--instructions", "instructions_text", help="Instructions to acknowledge before the first item.")
@click.option("--instructions-file", type=click.File(encoding="utf-8"), help="Instructions from a file.")
@click.option("--attention-rate", type=float, help="Share of items that are attention checks (e.g. 0.1).")
@click.option("--attention-positions", help="Comma-separated positions (from 1) of the checks; wins over the rate.")
@click.option("--attention-first-after", type=click.IntRange(min=0), help="No check among the first N items.")
@click.option("--max-attention-failures", type=int,
              help="Stop a participant who fails more checks than this (-1: never stop).")
@click.option("--training-items", type=click.IntRange(min=0), help="K: practice items with feedback first.")
@click.option("--training-pass", type=float, help="Share of training items to get right (e.g. 0.6).")
@click.option("--min-seconds", type=float, help="Labels faster than this are marked.")
@click.option("--json", "as_json", is_flag=True, help="Print the study settings as JSON.")
@click.pass_context
def settings_command(ctx, project: str, as_json: bool, consent_file, instructions_file, **options) -> None:
    """Show or change the study settings (only the options given change)."""
    conn = open_db(ctx)
    changes = {k: v for k, v in options.items() if v is not None}
    if consent_file is not None:
        changes["consent_text"] = consent_file.read()
    if instructions_file is not None:
        changes["instructions_text"] = instructions_file.read()
    if "attention_positions" in changes:
        try:
            changes["attention_positions"] = [int(p) for p in changes["attention_positions"].split(",") if p.strip()]
        except ValueError:
            raise click.BadParameter("expected numbers separated by commas, e.g. 5,12,20",
                                     param_hint="--attention-positions") from None
    if changes.get("max_participants") == 0:
        changes["max_participants"] = None
    if changes.get("max_attention_failures") == -1:
        changes["max_attention_failures"] = None
    current = get_project(conn, project)
    current = links.update_settings(conn, current, **changes) if changes else current
    settings = current.config.study
    if as_json:
        echo_json(settings.model_dump())
        return
    for name, value in settings.model_dump().items():
        click.echo(f"{name}: {value!r}" if not isinstance(value, str) or len(value) < 60 else
                   f"{name}: {value[:57]!r}...")
    try:
        links.check_ready(conn, current)
    except AnnotateError as exc:
        click.echo(f"Not ready for participants yet: {exc}")


@study_group.command("mark-checks")
@click.option("--project", "-p", required=True)
@click.option("--purpose", type=click.Choice(checks.PURPOSES), default="attention", show_default=True)
@click.option("--from-gold", is_flag=True, help="Answers from the gold rater (imported with --map gold=COLUMN).")
@click.option("--file", "path", type=click.Path(dir_okay=False),
              help="A CSV/JSONL/JSON/Parquet file: id, answer (A, B, tie or a value), explanation, purpose.")
@click.option("--items", help="With --from-gold: comma-separated dataset ids (default: every gold item).")
@click.option("--limit", type=click.IntRange(min=1), help="With --from-gold: at most N items, drawn at random.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--explanation", default="", help="With --from-gold: the explanation shown after training items.")
@click.pass_context
def mark_checks_command(ctx, project: str, purpose: str, from_gold: bool, path: str | None, items: str | None,
                        limit: int | None, seed: int, explanation: str) -> None:
    """Mark items with a known answer as attention checks or training items."""
    if from_gold == (path is not None):
        raise click.UsageError("Give either --from-gold or --file")
    conn = open_db(ctx)
    current = get_project(conn, project)
    if from_gold:
        ids = [i.strip() for i in items.split(",") if i.strip()] if items else None
        count = checks.mark_from_gold(conn, current, purpose, item_ids=ids, limit=limit, explanation=explanation,
                                      seed=seed)
    else:
        count = checks.mark_from_file(conn, current, path, purpose)
    frame = checks.check_items(conn, current)
    click.echo(f"Marked {count} item(s). Project '{project}' now has "
               f"{int((frame['purpose'] == 'attention').sum())} attention-check and "
               f"{int((frame['purpose'] == 'training').sum())} training item(s).")


@study_group.command("unmark-checks")
@click.option("--project", "-p", required=True)
@click.argument("items", nargs=-1, required=True)
@click.pass_context
def unmark_checks_command(ctx, project: str, items: tuple[str, ...]) -> None:
    """Make check items ordinary items again (ITEMS: the dataset's ids; answers given are kept)."""
    conn = open_db(ctx)
    click.echo(f"Unmarked {checks.unmark(conn, get_project(conn, project), list(items))} item(s)")


@study_group.command("checks")
@click.option("--project", "-p", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def checks_command(ctx, project: str, as_json: bool) -> None:
    """List the check items: purpose, expected answer, explanation."""
    conn = open_db(ctx)
    frame = checks.check_items(conn, get_project(conn, project))
    rows = frame[["external_id", "purpose", "answer", "explanation", "source"]].to_dict("records")
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"Project '{project}' has no check items (study mark-checks marks them)")
    for row in rows:
        click.echo(f"{row['external_id']}  {row['purpose']}  {row['answer']}  {row['explanation'] or ''}".rstrip())


@study_group.command("status")
@click.option("--project", "-p", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def status_command(ctx, project: str, as_json: bool) -> None:
    """Participants started / completed / excluded, codes issued, median times (for fair pay)."""
    conn = open_db(ctx)
    status = reports.study_status(conn, get_project(conn, project))
    if as_json:
        echo_json(status)
        return
    people = status["participants"]
    click.echo(f"Study '{project}': link {'open' if status['link_open'] else 'closed'}, quota {status['quota']}, "
               f"cap {status['max_participants'] or 'none'}")
    click.echo(f"Participants: {people['started']} started, {people['active']} active, {people['completed']} "
               f"completed, {people['failed_qualification']} ended after training, {people['stopped_attention']} "
               f"stopped for attention checks, {people['excluded']} excluded")
    codes = status["completion_codes_issued"]
    click.echo(f"Codes issued: {codes['completion']} completion, {codes['qualification']} qualification")
    click.echo(f"Median seconds per item: {_number(status['median_seconds_per_item'])}; median minutes per "
               f"completed participant: {_number(status['median_minutes_per_participant'])}; "
               f"labels faster than {status['min_seconds']:g} s: {status['fast_labels']}")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@study_group.command("participants")
@click.option("--project", "-p", required=True)
@click.option("--csv", "path", type=click.Path(dir_okay=False), required=True,
              help="Write participant ids with their completion status here (for bulk approval).")
@click.pass_context
def participants_command(ctx, project: str, path: str) -> None:
    """Write the participants' platform ids, status and codes as CSV, for bulk approval on the platform."""
    conn = open_db(ctx)
    rows = reports.write_participants_csv(conn, get_project(conn, project), path)
    click.echo(f"Wrote {rows} participant(s) to {path}")


@study_group.command("exclude")
@click.option("--project", "-p", required=True)
@click.argument("participant")
@click.option("--reason", required=True, help="Why (kept with the exclusion).")
@click.option("--by", "researcher", help="The researcher's name (kept with the exclusion).")
@click.pass_context
def exclude_command(ctx, project: str, participant: str, reason: str, researcher: str | None) -> None:
    """Exclude a participant's labels from k, reports and exports (PARTICIPANT: name or platform id)."""
    conn = open_db(ctx)
    current = get_project(conn, project)
    row = participants.find_participant(conn, current, participant)
    participants.set_excluded(conn, current, row["annotator_id"], True, reason, by=researcher)
    click.echo(f"Excluded participant '{participant}' of '{project}'")


@study_group.command("include")
@click.option("--project", "-p", required=True)
@click.argument("participant")
@click.pass_context
def include_command(ctx, project: str, participant: str) -> None:
    """Undo an exclusion: the participant's labels count again."""
    conn = open_db(ctx)
    current = get_project(conn, project)
    row = participants.find_participant(conn, current, participant)
    if not row["excluded"]:
        raise AnnotateError(f"Participant '{participant}' of '{project}' is not excluded")
    participants.set_excluded(conn, current, row["annotator_id"], False)
    click.echo(f"Included participant '{participant}' of '{project}' again")
