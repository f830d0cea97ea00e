"""The router: spend the human budget where a human label is worth most (issue 6).

`features` (per-item features), `strategies` (gains and AI labels), `budget` (labels, shares or
money; overlap and the calibration slice), `routing` (plan, apply, re-rank, final AI labels) and
`simulate` (replay on a labelled project and score the final labels against gold).
"""
from annotate.router.budget import Budget, BudgetError, parse_budget
from annotate.router.routing import (apply_routing, budget_curve, final_ai_labels, plan_routing, rerank,
                                     rerank_if_due, routing_status)
from annotate.router import routing, simulate as simulate_module
from annotate.router.simulate import simulate
from annotate.router.strategies import STRATEGIES

__all__ = ["Budget", "BudgetError", "STRATEGIES", "apply_routing", "budget_curve", "final_ai_labels",
           "parse_budget", "plan_routing", "rerank", "rerank_if_due", "routing", "routing_status", "simulate", "simulate_module"]
