"""Route a project's items to humans or the AI judge, re-rank as labels arrive, and read AI labels.

`plan_routing` computes decisions without writing; `apply_routing` writes them (one routing run and
one routing_decisions row per item). The annotator queue serves items whose latest decision is
'human', highest priority first. Priorities: calibration items 2 + gain (so the unbiased random
slice is labelled first and the learned strategies get their cold start), other items their gain
in [0, 1]. `rerank_if_due` refits after every N new human labels and inserts new rows for pending
items only (items without a current human label); labelled items keep their rows.

Routing is apart from relabeling (issue 16): an item routed to the AI carries `ai_verdict` and
`ai_source`. With `ai_label='judge'` (the default) they are the judge's combined verdict and the
judge's name; with `ai_label='model'` the router's label model (label_model.py, with the bought
human labels of items that share a response) gives every AI item its label, and `ai_source` is
LABEL_MODEL_SOURCE: that row is the provenance the export reports.

A re-rank holds the project's job lease (annotate.jobs), so with several app servers on one
database a project is re-ranked by one of them at a time: a submit on another server finds the
job busy and leaves it to the holder.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

import storage
from storage.db import Connection, Cursor
from annotate.analysis.reference import reference_labels
from annotate.analysis.verdicts import combined_verdicts
from annotate.errors import AnnotateError, NotFoundError
from annotate.jobs import JobBusyError, JobLease, rerank_job_key
from annotate.projects import Project, get_project
from annotate.router.budget import Budget, BudgetError
from annotate.router.features import VERDICT, ItemFeatures, build_features
from annotate.router.label_model import LABEL_MODEL_SOURCE, choose_labels
from annotate.router.names import AI_LABELS, DEFAULT_EVERY_N
from annotate.router.reasons import explain
from annotate.router.strategies import (
    MODEL_VERSION,
    Context,
    check_strategy,
    design_matrix,
    fit_logistic,
    judge_errors,
    make_router,
    top_k,
    unavailable,
)
from storage import items as items_store
from storage import judgments as judgments_store
from storage import labels as labels_store
from storage import routing as store

SNAPSHOT_LIMIT = 40  # named static features kept in each decision's snapshot (categories excluded)
MIN_CURVE_LABELS = 10  # human-labelled items needed before the page estimates an accuracy curve


@dataclass
class RoutingPlan:
    """Decisions (item_id, external_id, route, priority, is_calibration, is_labelled, gain,
    ai_verdict, ai_source, reasons, features JSON) and the settings that produced them.

    `choice` is the ranking the learned strategy uses (a baseline name or 'error model'; the
    strategy name for the others); `warnings` name excluded metadata columns; `features` and
    `known` (bought classes per item, NaN unbought) feed the estimated-accuracy curve.
    """
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
    ai_label: str = "judge"
    choice: str = ""
    warnings: list[str] = field(default_factory=list)
    features: ItemFeatures | None = None
    known: np.ndarray | None = None

    @property
    def n_already_labelled(self) -> int:
        """Human-routed items that humans have labelled already."""
        return int((self.decisions["route"].eq("human") & self.decisions["is_labelled"]).sum())

    @property
    def n_newly_sent(self) -> int:
        """Human-routed items without a human label yet: the work this routing asks for."""
        return int((self.decisions["route"].eq("human") & ~self.decisions["is_labelled"]).sum())


def resolve_judge(conn: Connection, project: Project, judge: str) -> int:
    """The id of the judge called `judge` with judgments in the project (the one with most)."""
    judges = judgments_store.list_judges(storage.cursor(conn), project.id)
    matches = judges[judges["name"] == judge].sort_values("judgments", ascending=False)
    if matches.empty:
        known = ", ".join(f"'{n}'" for n in judges["name"]) or "none"
        raise NotFoundError(f"No judge '{judge}' with judgments in project '{project.name}' (judges: {known})")
    return int(matches["id"].iloc[0])


def project_judges(conn: Connection, project: str) -> list[str]:
    """Names of the judges with judgments in the project, in id order."""
    found = get_project(conn, project)
    return list(dict.fromkeys(judgments_store.list_judges(storage.cursor(conn), found.id)["name"]))


def project_labels(conn: Connection, project: str) -> pd.DataFrame:
    """Current overall pairwise human labels in event order: item_id, annotator_id, annotator,
    source, value.

    A gold rater's labels (annotators.kind 'gold', a benchmark's answer key) are left out: they
    are not human labels anyone bought, so they neither count as labelled items nor reach a model."""
    found = get_project(conn, project)
    if found.task_type != "pairwise":
        raise AnnotateError(f"Project '{project}': this routing is for pairwise projects; rubric projects "
                            f"use annotate.router.rubric")
    labels = labels_store.current_label_values(storage.cursor(conn), found.id)
    labels = labels[(labels["aspect"] == "overall") & labels["response_idx"].isna() & (labels["kind"] != "gold")]
    labels = labels.sort_values("event_id")
    return labels[["item_id", "annotator_id", "annotator", "source", "value"]].reset_index(drop=True)


def reference_classes(labels: pd.DataFrame, policy: str) -> pd.Series:
    """The human reference class per item (-1 / 0 / +1; NaN where the split policy drops it), by
    the project-wide rule in annotate.analysis.reference."""
    return reference_labels(labels, policy)


def load_features(conn: Connection, project: str, judge: str, item_ids: np.ndarray | None = None,
                  embeddings: bool = False) -> ItemFeatures:
    """Features of the project's items (or of `item_ids`) with `judge` as the primary judge and the
    project's opted-in metadata columns (`router_metadata`)."""
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
    return build_features(items, responses, verdicts[verdicts["item_id"].isin(items["item_id"])], judge_id, cosine,
                          found.config.router_metadata)


def _cosine(conn, items: pd.DataFrame, responses: pd.DataFrame) -> np.ndarray:
    from annotate.router.embeddings import response_cosine
    pairs = responses.pivot(index="item_id", columns="idx", values="text").reindex(items["item_id"].sort_values())
    return response_cosine(conn, pairs[0].fillna("").tolist(), pairs[1].fillna("").tolist())


def known_classes(labels: pd.DataFrame, item_ids: np.ndarray, policy: str) -> np.ndarray:
    """Per item (in `item_ids` order) its human reference class; NaN if unlabelled or dropped."""
    return reference_classes(labels, policy).reindex(item_ids).to_numpy(dtype=float)


def plan_routing(conn: Connection, project: str, judge: str, strategy: str, budget: Budget,
                 seed: int = 0, embeddings: bool = False, calibration: np.ndarray | None = None,
                 ai_label: str = "judge") -> RoutingPlan:
    """Decide every item's route with the labels known now (nothing is written).

    Args:
        calibration: item ids of an existing calibration slice to keep (re-ranks); None draws one.
        ai_label: 'judge' (the judge's combined verdict) or 'model' (the router's label model).
    Raises:
        BudgetError: all-human with a budget short of every item.
        AnnotateError: an unknown strategy or AI-label mode.
    """
    found = get_project(conn, project)
    if found.task_type == "pairwise":
        check_strategy(strategy)
    if ai_label not in AI_LABELS:
        raise AnnotateError(f"Unknown AI label '{ai_label}' (use {' or '.join(AI_LABELS)})")
    judge_id = resolve_judge(conn, found, judge)
    if found.task_type == "rubric":
        return _plan_rubric(conn, found, judge, judge_id, strategy, budget, seed, calibration)
    features = load_features(conn, project, judge, embeddings=embeddings)
    reason = unavailable(strategy, features)
    if reason:
        raise AnnotateError(f"Strategy '{strategy}' on project '{project}' {reason}")
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
    known = known_classes(project_labels(conn, project), features.item_ids, found.config.split_policy)
    context = Context(known, is_calibration, n_human)
    with threadpool_limits(limits=1):
        router = make_router(strategy, rng).fit(features, context)
    is_labelled = ~np.isnan(known)
    human = is_labelled | is_calibration
    router.gain_ = router.gain_ + 1e-9 * rng.random(n)  # ties broken here, so the stored priority orders the queue
    human[top_k(router.gain_, ~human, max(0, n_human - human.sum()), rng)] = True
    labels, sources = features.ai_label, list(features.ai_source)
    if ai_label == "model":
        model_context = Context(known, is_calibration, n_human, shared_evidence=True)
        with threadpool_limits(limits=1):
            labels, is_model, note = choose_labels(features, model_context, router.gain_, seed)
        sources = [LABEL_MODEL_SOURCE if is_model else s for s in sources]
        context.warnings.append(f"AI labels: {note}")
        context.warnings.extend(w for w in model_context.warnings if w not in context.warnings)
    decisions = _decisions(features, router, human, is_calibration, is_labelled, labels, sources)
    version = MODEL_VERSION.get(strategy, f"{strategy}-v1")
    return RoutingPlan(decisions, found, judge, judge_id, strategy, version, budget, n_human,
                       int(is_calibration.sum()), seed, ai_label, getattr(router, "choice_", strategy),
                       list(context.warnings), features, known)


def _plan_rubric(conn, found: Project, judge: str, judge_id: int, strategy: str, budget: Budget, seed: int,
                 calibration: np.ndarray | None) -> RoutingPlan:
    """plan_routing for a rubric project (annotate/router/rubric.py): items whose judges' scores
    spread, or whose judge missed the humans on the calibration slice, go to humans."""
    from annotate.router.rubric import SPREAD_UNAVAILABLE, load_units, plan_rubric_decisions

    units = load_units(conn, found.name, judge)
    if strategy == "spread" and not units.has_spread:
        raise AnnotateError(f"Strategy 'spread' on project '{found.name}' {SPREAD_UNAVAILABLE}")
    n = len(units.item_ids)
    n_human = {"all-ai": 0}.get(strategy, budget.human_items(n))
    rng = np.random.default_rng(seed)
    n_calibration = 0 if strategy in ("all-ai", "all-human") else budget.calibration_items(n_human)
    is_calibration = (np.isin(units.item_ids, calibration) if calibration is not None
                      else np.isin(np.arange(n), rng.choice(n, n_calibration, replace=False)))
    decisions, choice = plan_rubric_decisions(conn, found.name, judge, strategy, n_human, is_calibration, rng, units)
    return RoutingPlan(decisions, found, judge, judge_id, strategy, f"{strategy}-rubric-v1", budget, n_human,
                       int(is_calibration.sum()), seed, "judge", choice)


def _decisions(features: ItemFeatures, router, human: np.ndarray, is_calibration: np.ndarray,
               is_labelled: np.ndarray, labels: np.ndarray, sources: list) -> pd.DataFrame:
    gain = np.asarray(router.gain_, dtype=float)
    verdicts = [VERDICT.get(v) for v in labels]
    external = features.external_ids if features.external_ids is not None else features.item_ids.astype(str)
    frame = pd.DataFrame({"item_id": features.item_ids, "external_id": external,
                          "route": np.where(human, "human", "ai"),
                          "priority": np.where(is_calibration, 2 + gain, gain), "is_calibration": is_calibration,
                          "is_labelled": is_labelled, "gain": gain, "ai_verdict": verdicts,
                          "ai_source": [None if v is None else s for v, s in zip(verdicts, sources)],
                          "reasons": explain(features, router, human, is_calibration, is_labelled)})
    frame["features"] = _snapshots(features, frame)
    return frame


def _snapshots(features: ItemFeatures, frame: pd.DataFrame) -> list[str]:
    named = [c for c in features.frame.columns if "=" not in c and not c.startswith("meta:")][:SNAPSHOT_LIMIT]
    snap = features.frame[named].round(4).reset_index(drop=True)
    snap["gain"], snap["reasons"] = frame["gain"].round(4).to_numpy(), frame["reasons"].to_numpy()
    return snap.to_json(orient="records", lines=True).splitlines()


def apply_routing(conn: Connection, project: str, judge: str, strategy: str, budget: Budget,
                  seed: int = 0, every_n: int = DEFAULT_EVERY_N, embeddings: bool = False,
                  ai_label: str = "judge") -> RoutingPlan:
    """Plan and write the routing of every item (one routing run); return the plan."""
    plan = plan_routing(conn, project, judge, strategy, budget, seed, embeddings, ai_label=ai_label)
    _write(conn, plan, "apply", every_n, plan.decisions, embeddings)
    return plan


def _write(conn, plan: RoutingPlan, kind: str, every_n: int, rows: pd.DataFrame, embeddings: bool) -> int:
    settings = json.dumps({"judge": plan.judge, "budget": plan.budget.as_dict(), "seed": plan.seed,
                           "embeddings": embeddings, "ai_label": plan.ai_label})
    n_labels = store.count_current_labels(storage.cursor(conn), plan.project.id)

    def write(cur: Cursor) -> int:
        run_id = store.insert_routing_run(cur, plan.project.id, kind, plan.judge_id, plan.strategy, settings,
                                          plan.model_version, n_labels, every_n)
        decisions = rows.assign(project_id=plan.project.id, strategy=plan.strategy,
                                model_version=plan.model_version, judge_id=plan.judge_id, run_id=run_id)
        return store.insert_routing_decisions(cur, decisions)
    return storage.write(conn, write)


def rerank_if_due(conn: Connection, project: str, every_n: int | None = None) -> bool:
    """Re-rank pending items if `every_n` (else the run's own) new human labels arrived since the
    last routing run; return whether it did. Costs two small queries when not due.

    When another server (or thread) holds the project's re-rank lease, this one leaves the work to
    it and returns False; after taking the lease it checks again whether a re-rank is still due
    (the previous holder may just have done it).
    """
    found = get_project(conn, project)
    if not _is_rerank_due(conn, found, every_n):
        return False
    try:
        with _rerank_lease(conn, found):
            if not _is_rerank_due(conn, found, every_n):
                return False
            _rerank(conn, project)
    except JobBusyError:
        return False
    return True


def _is_rerank_due(conn: Connection, found: Project, every_n: int | None) -> bool:
    cur = storage.cursor(conn)
    run = store.latest_routing_run(cur, found.id)
    if run is None:
        return False
    every = every_n or run["every_n"] or DEFAULT_EVERY_N
    return store.count_current_labels(cur, found.id) - run["n_labels"] >= every


def _rerank_lease(conn: Connection, found: Project) -> JobLease:
    return JobLease(conn, rerank_job_key(found.id), f"Re-ranking project '{found.name}'")


def rerank(conn: Connection, project: str) -> int:
    """Refit with the labels known now and insert new decisions for pending items; return their count.

    Raises:
        AnnotateError: the project was never routed. JobBusyError: it is being re-ranked now
            (on this server or another one).
    """
    with _rerank_lease(conn, get_project(conn, project)):
        return _rerank(conn, project)


def _rerank(conn: Connection, project: str) -> int:
    found = get_project(conn, project)
    cur = storage.cursor(conn)
    run = store.latest_routing_run(cur, found.id)
    if run is None:
        raise AnnotateError(f"Project '{project}' has never been routed; apply a routing first")
    settings = json.loads(run["settings"])
    routes = store.current_routes(cur, found.id)
    calibration = routes.loc[routes["is_calibration"], "item_id"].to_numpy()
    plan = plan_routing(conn, project, settings["judge"], run["strategy"], Budget(**settings["budget"]),
                        settings["seed"], settings["embeddings"], calibration, settings.get("ai_label", "judge"))
    pending = plan.decisions[~plan.decisions["is_labelled"]]
    return _write(conn, plan, "rerank", run["every_n"], pending, settings["embeddings"])


def final_ai_labels(conn: Connection, project: str) -> pd.DataFrame:
    """Items whose current route is 'ai', with the label the AI gives them.

    Returns:
        item_id, external_id, judge_id, judge, verdict ('A' | 'tie' | 'B' | None when no judge
        parsed), source (the judge that gave the verdict, or LABEL_MODEL_SOURCE when the routing
        asked for the router's label model), and probs ([P(A), P(tie), P(B)] of the routing
        judge's combined verdict, None if unparsed).
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


def estimated_curve(plan: RoutingPlan) -> tuple[pd.DataFrame | None, str]:
    """Estimated final-label accuracy (judge labels kept) against the share of items sent to humans:
    the items humans labelled already first, then the plan's queue order; or None and the reason
    when there are too few human labels.

    The estimate: humans are right on their items; an AI item is right where the judge agrees with
    the humans' label (labelled items) or with probability 1 - P(judge wrong) from a logistic error
    model fitted on the labelled items (the others). The reference rules: all-AI = the same
    estimate with no item sent to humans, all-human = 1.

    Returns:
        (frame with budget, human_items, expected_accuracy; plus attrs all_ai, n_labels) or
        (None, why not).
    """
    known = plan.known if plan.known is not None else np.array([])
    n_labels = int((~np.isnan(known)).sum())
    if plan.features is None:
        return None, "No estimated accuracy curve for rubric projects: use the simulation below."
    if n_labels < MIN_CURVE_LABELS:
        return None, (f"No estimated accuracy curve: it is estimated from human labels, and this project has "
                      f"{n_labels} labelled item(s) (at least {MIN_CURVE_LABELS} needed). Label the calibration "
                      f"slice first.")
    context = Context(known, plan.decisions["is_calibration"].to_numpy(), plan.n_human)
    errors = judge_errors(plan.features, known)
    rows = np.flatnonzero(~np.isnan(errors))
    model = fit_logistic(design_matrix(plan.features, context)[rows], errors[rows], np.random.default_rng(0))
    wrong = np.full(len(known), errors[rows].mean()) if model is None else \
        model.predict_proba(design_matrix(plan.features, context))[:, -1]
    wrong = np.where(np.isnan(known), wrong, errors)  # labelled items: the judge's known right or wrong
    order = np.lexsort((-plan.decisions["priority"].to_numpy(), ~plan.decisions["is_labelled"].to_numpy()))
    n = len(order)
    left = np.r_[np.cumsum(wrong[order][::-1])[::-1], 0.0]
    steps = np.unique(np.linspace(0, n, min(n, 50) + 1).astype(int))
    curve = pd.DataFrame({"budget": steps / n, "human_items": steps, "expected_accuracy": 1 - left[steps] / n})
    curve.attrs.update(all_ai=float(1 - wrong.mean()), n_labels=n_labels)
    return curve, f"Estimated from {n_labels} human-labelled items (an error model of the judge)."


def routing_status(conn: Connection, project: str) -> dict:
    """Counts of the current routing: items routed, to humans, to the AI, calibration items, and
    the human items labelled already against those still waiting for a label."""
    found = get_project(conn, project)
    routes = store.current_routes(storage.cursor(conn), found.id)
    labelled = set(project_labels(conn, project)["item_id"])
    human = routes[routes["route"] == "human"]
    return {"items_routed": len(routes), "human": len(human), "ai": int((routes["route"] == "ai").sum()),
            "calibration": int(routes["is_calibration"].sum()),
            "human_labelled": int(human["item_id"].isin(labelled).sum()),
            "human_pending": int((~human["item_id"].isin(labelled)).sum())}
