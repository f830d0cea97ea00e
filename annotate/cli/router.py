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
@click.option("--seeds", default=5, show_default=True, help="Seeds 0..N-1 per strategy and budget.")
@click.option("--strategies", default=",".join(names.DEFAULT_STRATEGIES), show_default=True)
@click.option("--embeddings/--no-embeddings", default=False, help="Add the MiniLM cosine feature (cached).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def router_simulate(ctx, project, judge, budgets, seeds, strategies, embeddings, as_json) -> None:
    """Replay routing against the project's human labels; accuracy and budget-curve area per strategy."""
    try:
        shares = [float(b) for b in budgets.split(",") if b.strip()]
    except ValueError:
        raise click.BadParameter(f"expected shares like 0.1,0.3, got {budgets!r}", param_hint="--budgets") from None
    from annotate.router.simulate import simulate  # loads scikit-learn
    result = simulate(open_db(ctx), project, judge, shares, seeds,
                                 tuple(s.strip() for s in strategies.split(",") if s.strip()), embeddings=embeddings)
    if as_json:
        echo_json(result.as_dict())
        return
    click.echo(result.summary.pivot(index="strategy", columns="budget", values="mean").round(3).to_string())
    click.echo(result.auc.round(4).to_string(index=False))


@router_group.command("apply")
@click.option("--project", "-p", required=True)
@click.option("--judge", "-j", required=True)
@click.option("--strategy", "-s", type=click.Choice(names.STRATEGIES), default="learned", show_default=True)
@click.option("--budget", "-b", required=True, help="Human labels (300), a share of items (0.3 or 30%) or money ($120).")
@click.option("--overlap", type=int, help="Labels per human item (default: the project's overlap k).")
@click.option("--every-n", default=names.DEFAULT_EVERY_N, show_default=True,
              help="Re-rank pending items after this many new human labels.")
@click.option("--seed", default=0, show_default=True)
@click.option("--embeddings/--no-embeddings", default=False, help="Add the MiniLM cosine feature (cached).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def router_apply(ctx, project, judge, strategy, budget, overlap, every_n, seed, embeddings, as_json) -> None:
    """Route every item to humans or the AI and write the decisions (the queue serves them)."""
    from annotate.router.budget import parse_budget
    from annotate.router.routing import apply_routing  # loads scikit-learn
    conn = open_db(ctx)
    config = project_lib.get_project(conn, project).config
    parsed = parse_budget(budget, overlap or config.overlap, config.cost_per_human_label,
                                     config.cost_per_judge_call)
    plan = apply_routing(conn, project, judge, strategy, parsed, seed, every_n, embeddings)
    summary = {"project": project, "strategy": strategy, "judge": judge, "human_items": int(plan.n_human),
               "calibration_items": plan.n_calibration, "routed_human": int((plan.decisions["route"] == "human").sum()),
               "routed_ai": int((plan.decisions["route"] == "ai").sum()), "model_version": plan.model_version}
    if as_json:
        echo_json(summary)
    else:
        for key, value in summary.items():
            click.echo(f"{key:>17}: {value}")
