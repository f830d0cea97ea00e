"""Agreement between judges and humans."""
from __future__ import annotations

import click

from annotate.cli.base import cli, echo_json, open_db
from annotate.config import TIE_POLICIES

@cli.command("agreement")
@click.option("--project", "-p", required=True)
@click.option("--aspect", default="overall", show_default=True, help="Aspect (pairwise) or criterion (rubric).")
@click.option("--tie-policy", type=click.Choice(TIE_POLICIES), default="with_ties", show_default=True,
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
    from annotate.analysis import report as report_lib  # statistics stack: loaded only for this command
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
