"""The review queue: what a researcher should look at, and the three things they can do about it.

An item enters the queue for one or more reasons (REASONS):
- `flagged`: an annotator flagged it with a comment; `skipped`: an annotator skipped it with a reason.
- `split`: pairwise, at least two human labels and no strict majority of their signs (A / tie / B);
  rubric, two human scores of a response on a criterion at least 2 points apart.
- `judge_disagrees`: pairwise, a judge's verdict (combined over both orders,
  annotate.analysis.verdicts) differs from the strict human majority; rubric, a judge's mean score
  is at least 2 points from the humans' mean.
Annotators whose agreement with the others is low are listed beside the items (`low_agreement`).

Actions, each recorded with the researcher's name:
- `resolve_item`: close the item's flags and skips (and a split or a disagreement) with a note;
  a later flag, skip or label opens it again.
- `requeue_item`: ask for N more human labels; the item returns to the annotators' queue until it
  has them (storage: view `labels_toward_k`).
- `adjudicate_item`: a final label, stored as a new 'label' event with source 'adjudicated' and the
  researcher as its author. It closes the split and the disagreement, does not count toward k,
  and exports use it (annotate.data.aggregate). When several researchers adjudicated, the newest
  adjudication counts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

import storage
from storage import items as item_store, judgments as judgment_store, review as store, study_quality as quality_store
from storage.db import Connection, Cursor
from annotate.analysis.verdicts import combined_verdicts
from annotate.errors import AnnotateError, NotFoundError
from annotate.labeling.annotators import ROLES, get_annotator
from annotate.labeling.labels import record_label
from annotate.projects import Project, get_project
from annotate.signs import VERDICT
from annotate.study import participants as study_participants_lib, reports as study_reports
from annotate.study.timing import is_fast

REASONS = {"flagged": "Flagged", "skipped": "Skipped", "split": "Humans split",
           "judge_disagrees": "Judge disagrees with humans"}
STATUSES = ("open", "closed", "all")
LOW_AGREEMENT = 0.65
RUBRIC_GAP = 2.0
ITEM_COLUMNS = ["item_id", "id", "reasons", "status", "human_labels", "human_majority", "judges",
                "adjudicated", "flags", "skips", "waiting_for", "fast_labels"]


@dataclass
class ReviewQueue:
    """The queue of a project: items (ITEM_COLUMNS, after the filters), counts (reason, label,
    open, closed, total; over all items) and annotators (annotator, labels, compared,
    agreement, is_low)."""
    project: str
    items: pd.DataFrame
    counts: pd.DataFrame
    annotators: pd.DataFrame

    def as_dict(self) -> dict:
        """JSON-ready data for `review list --json`."""
        def rows(frame: pd.DataFrame) -> list[dict]:
            return [{k: (None if isinstance(v, float) and np.isnan(v) else v.item() if isinstance(v, np.generic)
                         else v) for k, v in row.items()} for row in frame.to_dict("records")]
        return {"project": self.project, "counts": rows(self.counts),
                "items": rows(self.items.drop(columns="item_id")), "annotators": rows(self.annotators)}


def review_queue(conn: Connection, project_name: str, *, reasons: tuple[str, ...] = (),
                 status: str = "open", annotator: str | None = None,
                 low_agreement: float = LOW_AGREEMENT) -> ReviewQueue:
    """The items that need a researcher's look, with counts per reason.

    Args:
        reasons: keep items with any of these REASONS (empty: all).
        status: 'open' (some reason still open), 'closed' (every reason handled) or 'all'.
        annotator: keep items this annotator labeled, flagged or skipped.
        low_agreement: annotators whose agreement with the others is below this are `is_low`.

    Raises:
        AnnotateError: an unknown reason or status. NotFoundError: no such project.
    """
    unknown = sorted(set(reasons) - set(REASONS))
    if unknown or status not in STATUSES:
        raise AnnotateError(f"Unknown review reason {unknown} or status '{status}' "
                            f"(reasons: {', '.join(REASONS)}; statuses: {', '.join(STATUSES)})")
    project = get_project(conn, project_name)
    cur = storage.cursor(conn)
    values = store.current_values(cur, project.id)
    notes = store.note_events(cur, project.id)
    # Human votes only: an adjudication is the researcher's answer, a gold rater a benchmark's key.
    humans = values[(values["source"] != store.ADJUDICATED) & (values["kind"] != "gold")]
    judgments = judgment_store.judgments_frame(cur, project.id)
    if project.task_type == "pairwise":
        per_item, rater_codes = _pairwise_signals(project, humans, judgments)
    else:
        per_item, rater_codes = _rubric_signals(humans, judgments)
    table = _item_table(project, cur, per_item, values, notes)
    counts = pd.DataFrame([{"reason": key, "label": label, "open": int((table[f"open_{key}"]).sum()),
                            "closed": int((table[key] & ~table[f"open_{key}"]).sum()), "total": int(table[key].sum())}
                           for key, label in REASONS.items()])
    keep = table[list(reasons or REASONS)].any(axis=1)
    if status != "all":
        keep &= (table["status"] == "open") == (status == "open")
    if annotator:
        involved = set(values.loc[values["annotator"] == annotator, "item_id"]) | set(
            notes.loc[notes["annotator"] == annotator, "item_id"])
        keep &= table["item_id"].isin(involved)
    return ReviewQueue(project.name, table.loc[keep, ITEM_COLUMNS].reset_index(drop=True), counts,
                       _annotator_agreement(rater_codes, low_agreement))


def _pairwise_signals(project: Project, humans: pd.DataFrame, judgments: pd.DataFrame):
    """Per item: counts of A / tie / B, strict majority, judges' verdicts; and items x raters codes."""
    overall = humans[(humans["aspect"] == "overall") & humans["response_idx"].isna()]
    codes = overall.pivot_table(index="item_id", columns="annotator", values="value", aggfunc="first")
    codes = np.sign(codes)
    counts = pd.DataFrame({v: (codes == s).sum(axis=1) for s, v in VERDICT.items()})
    n = counts.sum(axis=1)
    top = counts.max(axis=1)
    is_unique = counts.eq(top, axis=0).sum(axis=1) == 1
    majority = counts.idxmax(axis=1).where(is_unique & (n > 0))
    verdicts = combined_verdicts(judgments, "overall") if len(judgments) else pd.DataFrame(
        columns=["item_id", "judge", "verdict"])
    verdicts = verdicts[verdicts["verdict"].notna()]
    parts = [np.where(counts[v] > 0, f"{v} " + counts[v].astype(int).astype(str), "") for v in ("A", "tie", "B")]
    words = pd.Series([" · ".join(p for p in row if p) for row in zip(*parts)], index=counts.index, dtype=object)
    per_item = pd.DataFrame({"human_labels": words,
        "human_majority": majority.fillna("none"), "split": (n >= 2) & ~is_unique})
    judged = verdicts.merge(majority.rename("majority").rename_axis("item_id").reset_index(), on="item_id", how="left")
    judged["disagrees"] = judged["majority"].notna() & (judged["verdict"] != judged["majority"])
    judged["text"] = judged["judge"].astype(str) + ": " + judged["verdict"].astype(str)
    per_item = per_item.join(judged.groupby("item_id").agg(judges=("text", ", ".join),
                                                            judge_disagrees=("disagrees", "any")), how="outer")
    return per_item, codes


def _rubric_signals(humans: pd.DataFrame, judgments: pd.DataFrame):
    """Per item: score spread, judges' gaps to the human mean; and units x raters scores."""
    scored = humans.dropna(subset=["response_idx"])
    unit = ["item_id", "response_idx", "aspect"]
    spread = scored.groupby(unit)["value"].agg(["min", "max", "mean", "size"]).reset_index()
    spread["split"] = (spread["max"] - spread["min"]) >= RUBRIC_GAP
    parsed = judgments[judgments["is_parsed"].astype(bool) & judgments["score"].notna()]
    judge_scores = parsed.groupby([*unit, "judge"], as_index=False)["score"].mean()
    gaps = judge_scores.merge(spread[[*unit, "mean"]], on=unit)
    gaps["disagrees"] = (gaps["score"] - gaps["mean"]).abs() >= RUBRIC_GAP
    per_item = spread.groupby("item_id").agg(split=("split", "any"), n=("size", "sum"))
    per_item["human_labels"] = per_item["n"].map(lambda n: f"{int(n)} scores")
    per_item["human_majority"] = "not applicable"
    per_item = per_item.drop(columns="n").join(gaps.groupby("item_id").agg(
        judges=("judge", lambda s: ", ".join(sorted(set(s)))), judge_disagrees=("disagrees", "any")), how="outer")
    codes = scored.assign(unit=scored["item_id"] * 1000 + scored["response_idx"] * 100
                          + pd.factorize(scored["aspect"])[0]).pivot_table(
        index="unit", columns="annotator", values="value", aggfunc="first")
    return per_item, codes


def _item_table(project: Project, cur, per_item: pd.DataFrame, values: pd.DataFrame,
                notes: pd.DataFrame) -> pd.DataFrame:
    """One row per item with any reason: reasons, whether each is open, words for the page."""
    items = item_store.items_frame(cur, project.id)[["item_id", "external_id"]].set_index("item_id")
    table = items.join(per_item, how="left")
    for kind, column in (("flag", "flagged"), ("skip", "skipped")):
        of_kind = notes[notes["kind"] == kind]
        table[column] = table.index.isin(of_kind["item_id"])
        table[f"open_{column}"] = table.index.isin(of_kind.loc[~of_kind["is_resolved"].astype(bool), "item_id"])
        words = pd.Series([f"{a}: {n}" for a, n in zip(of_kind["annotator"], of_kind["note"])], dtype=object)
        table[f"{kind}s"] = words.groupby(of_kind["item_id"].to_numpy()).agg(" | ".join).reindex(table.index)
    actions = store.review_actions(cur, project.id)
    adjudicated = values[values["source"] == store.ADJUDICATED]
    newest = adjudicated.sort_values("event_id").groupby("item_id").last()
    table["adjudicated"] = newest["annotator"].reindex(table.index)
    last_label = values[values["source"] != store.ADJUDICATED].groupby("item_id")["event_id"].max()
    resolved_upto = actions[actions["action"] == "resolve"].groupby("item_id")["last_event_id"].max()
    is_settled = table["adjudicated"].notna() | (resolved_upto.reindex(table.index).fillna(-1)
                                                 >= last_label.reindex(table.index).fillna(0))
    for column in ("split", "judge_disagrees"):
        table[column] = table[column].astype("boolean").fillna(False).astype(bool)
        table[f"open_{column}"] = table[column] & ~is_settled
    table["adjudicated"] = table["adjudicated"].map(lambda name: f"by {name}" if isinstance(name, str) else "")
    table = table[table[list(REASONS)].any(axis=1)].copy()
    is_open = table[[f"open_{r}" for r in REASONS]].any(axis=1)
    table["status"] = np.where(is_open, "open", "closed")
    table["reasons"] = table.apply(lambda r: ", ".join(REASONS[k] for k in REASONS if r[k]), axis=1) \
        if len(table) else pd.Series(dtype=object)
    table["waiting_for"] = _waiting_for(cur, project, actions, table.index)
    table["fast_labels"] = fast_label_words(cur, project).reindex(table.index).fillna("")
    table = table.reset_index().rename(columns={"external_id": "id"})
    for column in ("human_labels", "human_majority", "judges", "flags", "skips"):
        table[column] = table[column].fillna("").astype(str) if column in table else ""
    return table


def _fast_labels(cur, project: Project) -> pd.DataFrame:
    """Current labels (any annotator, adjudications aside) faster than the project's minimum time
    (annotate.study.settings.StudySettings.min_seconds; none when it is 0): label_times rows."""
    times = quality_store.label_times(cur, project.id)
    return times[is_fast(times["seconds"], project.config.study.min_seconds or None)
                 & (times["source"] != store.ADJUDICATED)]


def fast_label_words(cur, project: Project) -> pd.Series:
    """Per item, its labels faster than the project's minimum time in words ('participant-3-1: 2 s')."""
    fast = _fast_labels(cur, project)
    if fast.empty:
        return pd.Series(dtype=object)
    words = fast["annotator"].astype(str) + ": " + fast["seconds"].round(1).map("{:g} s".format).astype(str)
    return words.groupby(fast["item_id"].to_numpy()).agg(", ".join).astype(object)


def fast_labels_table(conn: Connection, project_name: str) -> pd.DataFrame:
    """Every current label faster than the project's minimum time, for the review page: id (the
    item's dataset id), participant (the annotator's name), seconds. They are marked, never hidden:
    reports and exports count them (the quality table counts them per participant)."""
    project = get_project(conn, project_name)
    cur = storage.cursor(conn)
    fast = _fast_labels(cur, project)
    ids = item_store.items_frame(cur, project.id)[["item_id", "external_id"]]
    out = fast.merge(ids, on="item_id").sort_values(["seconds", "event_id"])
    return pd.DataFrame({"id": out["external_id"].to_numpy(), "participant": out["annotator"].to_numpy(),
                         "seconds": out["seconds"].astype(float).round(1).to_numpy()})


def _waiting_for(cur, project: Project, actions: pd.DataFrame, item_ids: pd.Index) -> list[int]:
    """Human labels still wanted by a re-queue request, per item (0 when none is pending)."""
    requeued = set(actions.loc[actions["action"] == "requeue", "item_id"])
    return [max(project.config.overlap - store.labels_toward_k(cur, i)[1], 0) if i in requeued else 0
            for i in item_ids]


def _annotator_agreement(codes: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Each human's agreement with the strict majority (pairwise) or the strict mode of the
    rounded scores (rubric) of the others on the units both labeled: the leave-one-out comparison
    of the human ceiling. Vectorised over units: counts per value, less the rater's own vote."""
    values = codes.to_numpy(dtype=float).round()
    categories = np.unique(values[~np.isnan(values)])
    onehot = np.stack([values == c for c in categories], axis=2) if len(categories) else np.zeros(
        (*values.shape, 0), bool)
    totals = onehot.sum(axis=1)
    rows = []
    for r, name in enumerate(codes.columns):
        if codes.shape[1] < 2:
            break
        others = totals - onehot[:, r, :]
        top = others.max(axis=1, initial=0)
        is_strict = (top > 0) & ((others == top[:, None]).sum(axis=1) == 1)
        reference = np.where(is_strict, categories[others.argmax(axis=1)] if len(categories) else np.nan, np.nan)
        both = ~np.isnan(values[:, r]) & ~np.isnan(reference)
        agreement = float((values[both, r] == reference[both]).mean()) if both.any() else float("nan")
        rows.append({"annotator": name, "labels": int((~np.isnan(values[:, r])).sum()), "compared": int(both.sum()),
                     "agreement": agreement, "is_low": bool(both.any() and agreement < threshold)})
    return pd.DataFrame(rows, columns=["annotator", "labels", "compared", "agreement", "is_low"])


# ---------------------------------------------------------------- one item


@dataclass
class ReviewItem:
    """One item as the review page shows it.

    item: {id, prompt, context, reference, responses: [{idx, letter, text, model}]} in canonical
    order; events: every label, skip and flag (storage.review.item_events columns plus `label`,
    the values in words); judgments: every judgment (storage.review.item_judgments plus `words`);
    combined: one row per judge (judge, verdict, is_inconsistent); actions: review actions.
    """
    item_id: int
    item: dict
    events: pd.DataFrame
    judgments: pd.DataFrame
    combined: pd.DataFrame
    actions: pd.DataFrame


def review_item(conn: Connection, project_name: str, external_id: str) -> ReviewItem:
    """Everything about one item: texts with model names, every event, every judgment, actions."""
    project, item_id = _find(conn, project_name, external_id)
    cur = storage.cursor(conn)
    item = item_store.get_item(cur, item_id)
    letters = "AB" if project.task_type == "pairwise" else None
    responses = [{**r, "letter": letters[r["idx"]] if letters else str(r["idx"] + 1)} for r in item["responses"]]
    events = store.item_events(cur, item_id)
    events["label"] = [describe_values(project, v) if k == "label" else "" for k, v in
                       zip(events["kind"], events["label_values"])]
    judgments = store.item_judgments(cur, item_id)
    combined = pd.DataFrame(columns=["judge", "verdict", "is_inconsistent"])
    if project.task_type == "pairwise" and len(judgments):
        with_ids = judgments.assign(item_id=item_id, judge_id=judgments["judge"])
        combined = combined_verdicts(with_ids, "overall")[["judge", "verdict", "is_inconsistent"]]
    return ReviewItem(item_id, {"id": item["external_id"], "prompt": item["prompt"], "context": item["context"],
                                "reference": item["reference"], "responses": responses},
                      events, judgments, combined, store.review_actions(cur, project.id, item_id))


def describe_values(project: Project, label_values) -> str:
    """A label's canonical values in words: 'A is much better' (pairwise; aspects named) or
    'response 1: helpfulness 4, clarity 5' (rubric)."""
    values = [(v["aspect"], v["response_idx"], v["value"]) for v in (label_values if label_values is not None else [])]
    if project.task_type == "pairwise":
        words = {p.value: p.label for p in project.config.scale}
        return "; ".join(words.get(int(v), str(v)) if a == "overall" else f"{a}: {words.get(int(v), v)}"
                         for a, _, v in values)
    by_response: dict[int, list[str]] = {}
    for aspect, idx, value in values:
        by_response.setdefault(int(idx), []).append(f"{aspect} {value:g}")
    return "; ".join(f"response {i + 1}: {', '.join(parts)}" for i, parts in sorted(by_response.items()))


# ---------------------------------------------------------------- actions


def resolve_item(conn: Connection, project_name: str, external_id: str, researcher: str,
                 note: str) -> int:
    """Close the item's flags, skips and disagreements up to now, with a note; return the action id.

    Raises:
        AnnotateError: an empty note, or a researcher without the researcher role.
    """
    if not (note or "").strip():
        raise AnnotateError(f"Resolving item '{external_id}' needs a note saying what was done")
    project, item_id = _find(conn, project_name, external_id)
    person = _researcher(conn, researcher)

    def write(cur: Cursor) -> int:
        return store.insert_action(cur, project.id, item_id, person["id"], "resolve", note.strip(),
                                   last_event_id=store.last_event_id(cur, item_id))
    return storage.write(conn, write)


def requeue_item(conn: Connection, project_name: str, external_id: str, researcher: str,
                 more: int = 1, note: str | None = None) -> int:
    """Send the item back to the annotators for `more` human labels; return the action id.

    The item is served again (to annotators who have not labeled or skipped it) until it has
    `more` labels beyond what it has now, however many that is relative to the project's k.
    """
    if int(more) < 1:
        raise AnnotateError(f"Re-queueing item '{external_id}' needs at least 1 more label, not {more}")
    project, item_id = _find(conn, project_name, external_id)
    person = _researcher(conn, researcher)

    def write(cur: Cursor) -> int:
        _, counted = store.labels_toward_k(cur, item_id)
        extra = max(counted - project.config.overlap, 0) + int(more)
        return store.insert_action(cur, project.id, item_id, person["id"], "requeue", (note or "").strip() or None,
                                   extra_labels=extra)
    return storage.write(conn, write)


def adjudicate_item(conn: Connection, project_name: str, external_id: str, researcher: str,
                    values: dict, *, both_bad: bool = False, note: str | None = None) -> int:
    """Record the researcher's final label of the item (source 'adjudicated'); return the event id.

    Args:
        values: canonical values as for annotate.labeling.labels.record_label: pairwise
            {aspect: signed value}, rubric {response_idx: {criterion: score}}.
        note: why (kept as the event's justification).

    Raises:
        LabelError: values off the scale. AnnotateError: the researcher labeled this item as an
            annotator (their own vote cannot also be the final word), or lacks the role.
    """
    project, item_id = _find(conn, project_name, external_id)
    person = _researcher(conn, researcher)
    own = store.item_events(storage.cursor(conn), item_id)
    own = own[(own["annotator"] == person["name"]) & own["is_current"].astype(bool)]
    if (own["source"] != store.ADJUDICATED).any():
        raise AnnotateError(f"{person['name']} labeled item '{external_id}' as an annotator; another "
                            f"researcher must adjudicate it")
    previous = int(own["event_id"].iloc[-1]) if len(own) else None
    return record_label(conn, project, person["id"], item_id, values, both_bad=both_bad,
                        justification=(note or "").strip() or None, supersedes=previous, source=store.ADJUDICATED)


STATUS_WORDS = {"active": "Taking part", "completed": "Completed", "failed_qualification": "Ended after training",
                "stopped_attention": "Stopped: failed attention checks", "excluded": "Stopped by a researcher"}
PARTICIPANT_COLUMNS = ["participant", "status", "is_excluded", "reason", "items_done", "attention_failed",
                       "attention_checks", "fast_labels"]


def study_participants(conn: Connection, project_name: str) -> pd.DataFrame:
    """A crowd study's participants as the review page lists them, the excluded first.

    Returns:
        PARTICIPANT_COLUMNS: participant (the opaque name, never the platform id), status (in
        words: STATUS_WORDS), is_excluded, reason (why excluded; empty when not), items_done
        (labels plus attention checks), attention_failed of attention_checks, fast_labels (labels under the project's minimum time; 0 without one). From
        annotate.study.reports.participants_table, without the platform columns.
    """
    table = study_reports.participants_table(conn, get_project(conn, project_name))
    table = table.rename(columns={"annotator": "participant", "exclusion_reason": "reason"})
    table["reason"] = table["reason"].where(table["is_excluded"]).fillna("")
    table["status"] = table["status"].map(STATUS_WORDS).fillna(table["status"])
    return table.sort_values(["is_excluded", "participant"], ascending=[False, True]).reset_index(drop=True)[
        PARTICIPANT_COLUMNS]


def set_participant_exclusion(conn: Connection, project_name: str, participant: str, researcher: str,
                              is_excluded: bool, reason: str | None = None) -> None:
    """Exclude a participant's labels from reports and exports ("Exclude"), or include them again
    ("Include again"), through annotate.study.participants.set_excluded; the reason keeps the
    researcher's name.

    Raises:
        AnnotateError: a researcher without the role, or excluding without a reason.
        NotFoundError: no such participant in the project.
    """
    project = get_project(conn, project_name)
    person = _researcher(conn, researcher)
    row = study_participants_lib.find_participant(conn, project, participant)
    if is_excluded and not (reason or "").strip():
        raise AnnotateError(f"Excluding {participant} needs a reason (kept with the exclusion)")
    words = f"{reason.strip()} (excluded by {person['name']})" if is_excluded else None
    study_participants_lib.set_excluded(conn, project, int(row["annotator_id"]), is_excluded, words)


def _find(conn: Connection, project_name: str, external_id: str) -> tuple[Project, int]:
    project = get_project(conn, project_name)
    item_id = item_store.item_id_for(storage.cursor(conn), project.id, str(external_id))
    if item_id is None:
        raise NotFoundError(f"No item '{external_id}' in project '{project_name}'")
    return project, item_id


def _researcher(conn: Connection, name: str) -> dict:
    person = get_annotator(conn, name)
    if ROLES.index(person["role"]) < ROLES.index("researcher") or not person["is_active"]:
        raise AnnotateError(f"'{name}' is not an active researcher or admin; only they can review items")
    return person


# ---------------------------------------------------------------- tables in words (for the page)

ORDER_WORDS = {"AB": "A left, B right", "BA": "B left, A right"}
JUDGE_ORDER_WORDS = {"AB": "A first, B second", "BA": "B first, A second"}


def events_table(item: ReviewItem, min_seconds: float | None = None) -> pd.DataFrame:
    """The item's events for people: Annotator, Rater, Action, Label, Both bad, Order shown, Time
    (UTC), Seconds, Justification or note, Status; with the project's minimum time per label
    (`min_seconds`), a label faster than it says so in Status (marked, never hidden)."""
    events = item.events
    rater = np.where(events["source"] == store.ADJUDICATED, "adjudicator", events["annotator_kind"])
    status = np.where(events["kind"] != "label", "", np.where(events["is_current"].astype(bool), "current",
                                                                 "superseded by an edit"))
    too_fast = (events["kind"] == "label").to_numpy() & is_fast(events["seconds"], min_seconds).to_numpy()
    status = np.where(too_fast, np.char.add(status.astype(str), f", faster than {min_seconds or 0:g} s"), status)
    return pd.DataFrame({
        "Annotator": events["annotator"], "Rater": rater,
        "Action": events["kind"].map({"label": "label", "skip": "skipped", "flag": "flagged"}),
        "Label": events["label"], "Both bad": events["both_bad"].astype(bool),
        "Order shown": events["presented_order"].map(ORDER_WORDS).fillna("not recorded"),
        "Time (UTC)": pd.to_datetime(events["created_at"]).dt.strftime("%Y-%m-%d %H:%M"),
        "Seconds": events["seconds"].round(0),
        "Justification or note": events["justification"].fillna(events["note"]).fillna(""), "Status": status})


def judgments_table(item: ReviewItem) -> pd.DataFrame:
    """The item's judgments for people: Judge, Criterion/aspect, Order shown, Verdict (or Score),
    P(A) / P(tie) / P(B) rounded, Rationale."""
    frame = item.judgments
    probs = [p if isinstance(p, (list, tuple, np.ndarray)) and len(p) == 3 else [np.nan] * 3 for p in frame["probs"]]
    probs = np.asarray(probs, dtype=float).reshape(-1, 3)
    verdict = frame["verdict"].where(frame["is_parsed"].astype(bool), "could not be parsed")
    out = pd.DataFrame({"Judge": frame["judge"], "Aspect": frame["aspect"],
                        "Order shown": frame["presented_order"].map(JUDGE_ORDER_WORDS).fillna("one response"),
                        "Verdict": verdict.fillna(frame["score"].map(lambda s: f"score {s:g}" if pd.notna(s) else ""))})
    if not np.isnan(probs).all():
        out[["P(A better)", "P(tie)", "P(B better)"]] = np.round(probs, 2)
    out["Rationale"] = frame["rationale"].fillna("")
    return out
