"""The router: router simulate / apply."""
from __future__ import annotations

import click

from annotate import projects as project_lib
from annotate.cli.base import Group, cli, echo_json, open_db
from annotate.router import names


@cli.group("router", cls=Group)
def router_group() -> None:
    """Route items to humans or the AI judge within a budget; simulate strategies."""


@router_group.command("simulate")
@click.option("--project", "-p", required=True)
@click.option("--judge", "-j", required=True, help="The primary judge (its verdict is the AI label).")
@click.option("--budgets", default="0.1,0.2,0.3,0.5", show_default=True, help="Shares of the items, comma-separated.")
@click.option("--seeds", default=5, show_default=True, type=click.IntRange(min=1),
              help="Seeds 0..N-1 per strategy and budget.")
@click.option("--strategies", default=",".join(names.DEFAULT_STRATEGIES), show_default=True)
@click.option("--split", type=click.Choice(names.SPLITS), default="all", show_default=True,
              help="Items to simulate on: all, or the prompt-disjoint dev (tuning) / test (reporting) split.")
@click.option("--embeddings/--no-embeddings", default=False, help="Add the MiniLM cosine feature (cached).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def router_simulate(ctx, project, judge, budgets, seeds, strategies, split, embeddings, as_json) -> None:
    """Replay routing against the project's human labels: routing-only, label-model and
    shared-evidence accuracy per strategy and budget, and the area under each budget curve."""
    try:
        shares = [float(b) for b in budgets.split(",") if b.strip()]
    except ValueError:
        raise click.BadParameter(f"expected shares like 0.1,0.3, got {budgets!r}", param_hint="--budgets") from None
    chosen = tuple(s.strip() for s in strategies.split(",") if s.strip())
    conn = open_db(ctx)
    if project_lib.get_project(conn, project).task_type == "rubric":
        from annotate.router.rubric import simulate_rubric  # loads scikit-learn
        result = simulate_rubric(conn, project, judge, shares, seeds, split=split)
    else:
        from annotate.router.simulate import simulate  # loads scikit-learn
        result = simulate(conn, project, judge, shares, seeds, chosen, embeddings=embeddings, split=split)
    if as_json:
        echo_json(result.as_dict())
        return
    from annotate.router.results import describe
    click.echo(describe(result))


@router_group.command("apply")
@click.option("--project", "-p", required=True)
@click.option("--judge", "-j", required=True)
@click.option("--strategy", "-s", type=click.Choice(names.STRATEGIES + names.RUBRIC_ONLY), default="learned",
              show_default=True, help="spread and calibration are for rubric projects.")
@click.option("--budget", "-b", required=True, help="Human labels (300), a share of items (0.3 or 30%) or money ($120).")
@click.option("--ai-label", type=click.Choice(names.AI_LABELS), default="judge", show_default=True,
              help="AI label of items not sent to humans: the judge's combined verdict, or the router's "
                   "label model (marked as such in exports).")
@click.option("--overlap", type=int, help="Labels per human item (default: the project's overlap k).")
@click.option("--every-n", default=names.DEFAULT_EVERY_N, show_default=True,
              help="Re-rank pending items after this many new human labels.")
@click.option("--seed", default=0, show_default=True)
@click.option("--embeddings/--no-embeddings", default=False, help="Add the MiniLM cosine feature (cached).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def router_apply(ctx, project, judge, strategy, budget, ai_label, overlap, every_n, seed, embeddings, as_json) -> None:
    """Route every item to humans or the AI and write the decisions (the queue serves them)."""
    from annotate.router.budget import parse_budget
    from annotate.router.routing import apply_routing  # loads scikit-learn
    conn = open_db(ctx)
    config = project_lib.get_project(conn, project).config
    parsed = parse_budget(budget, overlap or config.overlap, config.cost_per_human_label,
                          config.cost_per_judge_call)
    plan = apply_routing(conn, project, judge, strategy, parsed, seed, every_n, embeddings, ai_label)
    summary = {"project": project, "strategy": strategy, "judge": judge, "ai_label": ai_label,
               "ranking": plan.choice, "human_items": int(plan.n_human), "calibration_items": plan.n_calibration,
               "already_labelled": plan.n_already_labelled, "newly_sent": plan.n_newly_sent,
               "routed_ai": int((plan.decisions["route"] == "ai").sum()), "model_version": plan.model_version,
               "warnings": plan.warnings}
    if as_json:
        echo_json(summary)
        return
    for key, value in summary.items():
        if key != "warnings":
            click.echo(f"{key:>17}: {value}")
    for warning in plan.warnings:
        click.echo(f"Warning: {warning}", err=True)
