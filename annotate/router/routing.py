"""Route a project's items to humans or the AI judge, re-rank as labels arrive, and read AI labels.

`plan_routing` computes decisions without writing; `apply_routing` writes them (one routing run and
one routing_decisions row per item). The annotator queue serves items whose latest decision is
'human', highest priority first. Priorities: calibration items 2 + gain (so the unbiased random
slice is labelled first and the learned strategies get their cold start), other items their gain
in [0, 1]. `rerank_if_due` refits after every N new human labels and inserts new rows for pending
items only (items without a current human label); labelled items keep their rows. Items routed to
the AI carry `ai_verdict` (the strategy's AI label) and `ai_source` (the judge that gave it, or the
router model's version when the learned model overrode the judge): that row is the mark.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

import storage
from annotate.errors import AnnotateError, NotFoundError
from annotate.projects import Project, get_project
from annotate.router.budget import Budget, BudgetError
from annotate.router.names import DEFAULT_EVERY_N
from annotate.router.features import HUMAN_COLUMNS, VERDICT, ItemFeatures, build_features
from annotate.router.strategies import MODEL_VERSION, check_strategy, make_router, top_k
from annotate.analysis.verdicts import combined_verdicts
from storage import items as items_store, judgments as judgments_store, labels as labels_store
from storage import routing as store

SNAPSHOT_LIMIT = 40  # named static features kept in each decision's snapshot (categories excluded)


@dataclass
class RoutingPlan:
    """Decisions (item_id, route, priority, is_calibration, gain, ai_verdict, ai_source, reasons,
    features JSON) and the settings that produced them."""
    decisions: pd.DataFrame
    project: Project
    judge: str
    judge_id: int
    strategy: str
    model_version: str
    budget: Budget
    n_human: int
    n_calibration: int
    seed: int


def resolve_judge(conn: duckdb.DuckDBPyConnection, project: Project, judge: str) -> int:
    """The id of the judge called `judge` with judgments in the project (the one with most)."""
    judges = judgments_store.list_judges(storage.cursor(conn), project.id)
    matches = judges[judges["name"] == judge].sort_values("judgments", ascending=False)
    if matches.empty:
        known = ", ".join(f"'{n}'" for n in judges["name"]) or "none"
        raise NotFoundError(f"No judge '{judge}' with judgments in project '{project.name}' (judges: {known})")
    return int(matches["id"].iloc[0])


def project_judges(conn: duckdb.DuckDBPyConnection, project: str) -> list[str]:
    """Names of the judges with judgments in the project, in id order."""
    found = get_project(conn, project)
    return list(dict.fromkeys(judgments_store.list_judges(storage.cursor(conn), found.id)["name"]))


def project_labels(conn: duckdb.DuckDBPyConnection, project: str) -> pd.DataFrame:
    """Current overall pairwise human labels: item_id, annotator_id, value."""
    found = get_project(conn, project)
    if found.task_type != "pairwise":
        raise AnnotateError(f"Project '{project}': routing supports pairwise projects only")
    labels = labels_store.current_label_values(storage.cursor(conn), found.id)
    labels = labels[(labels["aspect"] == "overall") & labels["response_idx"].isna()]
    return labels[["item_id", "annotator_id", "value"]].reset_index(drop=True)


def load_features(conn: duckdb.DuckDBPyConnection, project: str, judge: str, item_ids: np.ndarray | None = None,
                  embeddings: bool = False) -> ItemFeatures:
    """Features of the project's items (or of `item_ids`) with `judge` as the primary judge."""
    found = get_project(conn, project)
    judge_id = resolve_judge(conn, found, judge)
    cur = storage.cursor(conn)
    items = items_store.items_frame(cur, found.id)
    responses = items_store.responses_frame(cur, found.id)
    if item_ids is not None:
        items = items[items["item_id"].isin(item_ids)]
        responses = responses[responses["item_id"].isin(item_ids)]
    if items.empty:
        raise AnnotateError(f"Project '{project}' has no items to route")
    verdicts = combined_verdicts(judgments_store.judgments_frame(cur, found.id))
    cosine = _cosine(conn, items, responses) if embeddings else None
    return build_features(items, responses, verdicts[verdicts["item_id"].isin(items["item_id"])], judge_id, cosine)


def _cosine(conn, items: pd.DataFrame, responses: pd.DataFrame) -> np.ndarray:
    from annotate.router.embeddings import response_cosine
    pairs = responses.pivot(index="item_id", columns="idx", values="text").reindex(items["item_id"].sort_values())
    return response_cosine(conn, pairs[0].fillna("").tolist(), pairs[1].fillna("").tolist())


def known_classes(labels: pd.DataFrame, item_ids: np.ndarray) -> np.ndarray:
    """Per item (in `item_ids` order) the sign of the mean of its current labels; NaN if unlabelled."""
    means = labels.groupby("item_id")["value"].mean()
    return np.sign(means.reindex(item_ids).to_numpy(dtype=float))


def plan_routing(conn: duckdb.DuckDBPyConnection, project: str, judge: str, strategy: str, budget: Budget,
                 seed: int = 0, embeddings: bool = False, calibration: np.ndarray | None = None) -> RoutingPlan:
    """Decide every item's route with the labels known now (nothing is written).

    Args:
        calibration: item ids of an existing calibration slice to keep (re-ranks); None draws one.
    Raises:
        BudgetError: all-human with a budget short of every item.
    """
    found = get_project(conn, project)
    check_strategy(strategy)
    features = load_features(conn, project, judge, embeddings=embeddings)
    judge_id = resolve_judge(conn, found, judge)
    n = len(features)
    n_human = budget.human_items(n, store.judge_call_count(storage.cursor(conn), found.id, judge_id))
    n_human = {"all-ai": 0}.get(strategy, n_human)
    if strategy == "all-human" and n_human < n:
        raise BudgetError(f"all-human routing of project '{project}' needs {n * budget.overlap} human labels; "
                          f"the budget pays for {n_human * budget.overlap}")
    rng = np.random.default_rng(seed)
    n_calibration = 0 if strategy in ("all-ai", "all-human") else budget.calibration_items(n_human)
    is_calibration = (np.isin(features.item_ids, calibration) if calibration is not None
                      else np.isin(np.arange(n), rng.choice(n, n_calibration, replace=False)))
    known = known_classes(project_labels(conn, project), features.item_ids)
    router = make_router(strategy, rng).fit(features, known)
    human = ~np.isnan(known) | is_calibration
    human[top_k(router.gain_, ~human, max(0, n_human - human.sum()), rng)] = True
    decisions = _decisions(features, router, human, is_calibration)
    version = MODEL_VERSION.get(strategy, f"{strategy}-v1")
    return RoutingPlan(decisions, found, judge, judge_id, strategy, version, budget, n_human,
                       int(is_calibration.sum()), seed)


def _decisions(features: ItemFeatures, router, human: np.ndarray, is_calibration: np.ndarray) -> pd.DataFrame:
    gain = np.asarray(router.gain_, dtype=float)
    same = (router.labels_ == features.ai_label) | (np.isnan(router.labels_) & np.isnan(features.ai_label))
    model = getattr(router, "model_version", "")
    source = [s if keep else model for s, keep in zip(features.ai_source, same)]
    names, x = _explained_matrix(features, router)
    frame = pd.DataFrame({"item_id": features.item_ids, "route": np.where(human, "human", "ai"),
                          "priority": np.where(is_calibration, 2 + gain, gain), "is_calibration": is_calibration,
                          "gain": gain, "ai_verdict": [VERDICT.get(v) for v in router.labels_],
                          "ai_source": [None if v is None else s for v, s in
                                        zip([VERDICT.get(v) for v in router.labels_], source)],
                          "reasons": top_reasons(x, gain, names)})
    frame["features"] = _snapshots(features, frame)
    return frame


def _explained_matrix(features: ItemFeatures, router) -> tuple[list[str], np.ndarray]:
    x = getattr(router, "x_", features.matrix_)
    human = HUMAN_COLUMNS + [f"human_sibling_agrees:{name}" for name in features.judge_signs]
    names = list(features.frame.columns) + (human if x.shape[1] > features.matrix_.shape[1] else [])
    return names, x


def top_reasons(x: np.ndarray, gain: np.ndarray, names: list[str], top: int = 3) -> list[str]:
    """Why an item's gain is high: the `top` largest contributions coef_k * x_k of a ridge
    surrogate fitted to the gains (a global linear explanation of any strategy)."""
    if np.ptp(gain) == 0:
        return [""] * len(gain)
    coef = Ridge(alpha=1.0).fit(x, gain).coef_
    contributions = x * coef
    order = np.argsort(-contributions, axis=1)[:, :top]
    return [", ".join(names[k] for k, c in zip(row, contributions[i, row]) if c > 0) for i, row in enumerate(order)]


def _snapshots(features: ItemFeatures, frame: pd.DataFrame) -> list[str]:
    named = [c for c in features.frame.columns if "=" not in c][:SNAPSHOT_LIMIT]
    snap = features.frame[named].round(4).reset_index(drop=True)
    snap["gain"], snap["reasons"] = frame["gain"].round(4).to_numpy(), frame["reasons"].to_numpy()
    return snap.to_json(orient="records", lines=True).splitlines()


def apply_routing(conn: duckdb.DuckDBPyConnection, project: str, judge: str, strategy: str, budget: Budget,
                  seed: int = 0, every_n: int = DEFAULT_EVERY_N, embeddings: bool = False) -> RoutingPlan:
    """Plan and write the routing of every item (one routing run); return the plan."""
    plan = plan_routing(conn, project, judge, strategy, budget, seed, embeddings)
    _write(conn, plan, "apply", every_n, plan.decisions, embeddings)
    return plan


def _write(conn, plan: RoutingPlan, kind: str, every_n: int, rows: pd.DataFrame, embeddings: bool) -> int:
    settings = json.dumps({"judge": plan.judge, "budget": plan.budget.as_dict(), "seed": plan.seed,
                           "embeddings": embeddings})
    n_labels = store.count_current_labels(storage.cursor(conn), plan.project.id)

    def write(cur: duckdb.DuckDBPyConnection) -> int:
        run_id = store.insert_routing_run(cur, plan.project.id, kind, plan.judge_id, plan.strategy, settings,
                                          plan.model_version, n_labels, every_n)
        decisions = rows.assign(project_id=plan.project.id, strategy=plan.strategy,
                                model_version=plan.model_version, judge_id=plan.judge_id, run_id=run_id)
        return store.insert_routing_decisions(cur, decisions)
    return storage.write(conn, write)


def rerank_if_due(conn: duckdb.DuckDBPyConnection, project: str, every_n: int | None = None) -> bool:
    """Re-rank pending items if `every_n` (else the run's own) new human labels arrived since the
    last routing run; return whether it did. Costs two small queries when not due."""
    found = get_project(conn, project)
    cur = storage.cursor(conn)
    run = store.latest_routing_run(cur, found.id)
    if run is None:
        return False
    every = every_n or run["every_n"] or DEFAULT_EVERY_N
    if store.count_current_labels(cur, found.id) - run["n_labels"] < every:
        return False
    rerank(conn, project)
    return True


def rerank(conn: duckdb.DuckDBPyConnection, project: str) -> int:
    """Refit with the labels known now and insert new decisions for pending items; return their count."""
    found = get_project(conn, project)
    cur = storage.cursor(conn)
    run = store.latest_routing_run(cur, found.id)
    if run is None:
        raise AnnotateError(f"Project '{project}' has never been routed; apply a routing first")
    settings = json.loads(run["settings"])
    routes = store.current_routes(cur, found.id)
    calibration = routes.loc[routes["is_calibration"], "item_id"].to_numpy()
    plan = plan_routing(conn, project, settings["judge"], run["strategy"], Budget(**settings["budget"]),
                        settings["seed"], settings["embeddings"], calibration)
    labelled = set(project_labels(conn, project)["item_id"])
    pending = plan.decisions[~plan.decisions["item_id"].isin(labelled)]
    return _write(conn, plan, "rerank", run["every_n"], pending, settings["embeddings"])


def final_ai_labels(conn: duckdb.DuckDBPyConnection, project: str) -> pd.DataFrame:
    """Items whose current route is 'ai', with the label the AI gives them.

    Returns:
        item_id, external_id, judge_id, judge, verdict ('A' | 'tie' | 'B' | None when no judge
        parsed), source (the judge that gave the verdict, or the router model's version), and
        probs ([P(A), P(tie), P(B)] of the routing judge's combined verdict, None if unparsed).
    """
    found = get_project(conn, project)
    cur = storage.cursor(conn)
    routes = store.current_routes(cur, found.id)
    routes = routes[routes["route"] == "ai"]
    verdicts = combined_verdicts(judgments_store.judgments_frame(cur, found.id))
    merged = routes.merge(verdicts[["item_id", "judge_id", "p_a", "p_tie", "p_b", "verdict"]],
                          on=["item_id", "judge_id"], how="left")
    merged["verdict"] = merged["ai_verdict"].where(merged["ai_verdict"].notna(), merged["verdict"])
    merged["source"] = merged["ai_source"].where(merged["ai_source"].notna(), merged["judge"])
    probs = merged[["p_a", "p_tie", "p_b"]].to_numpy(dtype=float)
    merged["probs"] = [None if np.isnan(p).any() else p.tolist() for p in probs]
    return merged[["item_id", "external_id", "judge_id", "judge", "verdict", "source", "probs"]].reset_index(drop=True)


def budget_curve(plan: RoutingPlan) -> pd.DataFrame:
    """The router's own estimate of final-label accuracy against the share of items sent to humans:
    humans assumed right, an AI item right with probability 1 - gain (meaningful when gain is a
    probability of error: the learned strategy). Columns: budget, human_items, expected_accuracy."""
    gain = np.sort(plan.decisions["gain"].to_numpy())[::-1]
    n = len(gain)
    tail = np.r_[np.cumsum(gain[::-1])[::-1], 0.0]
    steps = np.unique(np.linspace(0, n, min(n, 50) + 1).astype(int))
    return pd.DataFrame({"budget": steps / n, "human_items": steps, "expected_accuracy": 1 - tail[steps] / n})


def routing_status(conn: duckdb.DuckDBPyConnection, project: str) -> dict:
    """Counts of the current routing: human, ai, calibration, labelled human items, pending ones."""
    found = get_project(conn, project)
    routes = store.current_routes(storage.cursor(conn), found.id)
    labelled = set(project_labels(conn, project)["item_id"])
    human = routes[routes["route"] == "human"]
    return {"items_routed": len(routes), "human": len(human), "ai": int((routes["route"] == "ai").sum()),
            "calibration": int(routes["is_calibration"].sum()),
            "human_labelled": int(human["item_id"].isin(labelled).sum()),
            "human_pending": int((~human["item_id"].isin(labelled)).sum())}
