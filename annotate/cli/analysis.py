"""Agreement between judges and humans."""
from __future__ import annotations

import click

from annotate import projects as project_lib
from annotate.cli.base import cli, echo_json, open_db
from annotate.config import TIE_POLICIES


def parse_metadata_filters(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """KEY=VALUE options as (key, value) pairs; a value without '=' or an empty key is an error."""
    pairs = []
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint="--metadata")
        pairs.append((key, value))
    return tuple(pairs)


@cli.command("agreement")
@click.option("--project", "-p", required=True)
@click.option("--aspect", help="Aspect (pairwise; default 'overall') or criterion (rubric; default the first).")
@click.option("--tie-policy", type=click.Choice(TIE_POLICIES), default="with_ties", show_default=True,
              help="with_ties: a tie is a category (MT-Bench S1); without_ties: drop comparisons with a tie (S2).")
@click.option("--metadata", "metadata", metavar="KEY=VALUE", multiple=True,
              help="Only items whose metadata KEY equals VALUE (repeat: all must hold).")
@click.option("--by", "by", metavar="KEY", help="Every number per value of metadata KEY, plus overall.")
@click.option("--calibration-only", is_flag=True, help="Only the router's calibration items.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples of items for the intervals (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--include-excluded", is_flag=True,
              help="Crowd studies: keep the labels of excluded participants (left out by default; the report "
                   "says how many).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the whole report as JSON (the per-participant quality table under 'participant_quality', "
                   "what was left out under 'exclusion').")
@click.pass_context
def agreement_command(ctx, project, aspect, tie_policy, metadata, by, calibration_only, n_boot, seed,
                      include_excluded, as_json) -> None:
    """Judges vs humans against the human ceiling, under every published definition: agreement,
    kappa, alpha, coverage of unparsed verdicts, bias, rankings, per-participant quality. The split
    policy (project config) and any excluded participants are stated in every report."""
    from annotate.analysis import report as report_lib  # statistics stack: loaded only for this command
    aspect = aspect or project_lib.get_project(open_db(ctx), project).config.aspect_names[0]
    filters = report_lib.ReportFilters(aspect, tie_policy, parse_metadata_filters(metadata) or None,
                                       calibration_only, n_boot, seed, include_excluded)
    if by:
        sliced = report_lib.build_report_by(open_db(ctx), project, by, filters)
        if as_json:
            echo_json(sliced.as_dict())
        else:
            click.echo(report_lib.format_sliced_report(sliced))
        return
    report = report_lib.build_report(open_db(ctx), project, filters)
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(report_lib.format_report(report))
