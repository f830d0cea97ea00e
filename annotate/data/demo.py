"""The demo projects: what the app opens on when started without a database.

The items live in annotate/data/demo_data/ as JSONL and go through the ordinary importer, so the demo
also exercises the import path a user takes. So that every researcher page has something to show on
first start, the demo also ships (demo_data/labels.jsonl, judgments.jsonl; written for this
project, under its MIT license, see demo_data/README.md):
- pairwise: three annotators (alice, bob, chen) label the first 24 items twice each, with some
  disagreement (splits and one rater who often disagrees), one flag and one skip; two external
  judges give verdicts on all 40 items in both orders (judge-large flips on a few items when A and
  B are swapped, judge-small is noisier);
- rubric: alice and bob score the first 12 items, judge-large scores all 20.
The remaining items are unlabeled, so `demo-annotator` still has a queue (16 pairwise, 8 rubric).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import storage
from storage import annotators as annotator_store, items as item_store, judgments as judgment_store, \
    projects as project_store
from storage.db import Connection
from annotate.labeling.annotators import add_annotator
from annotate.labeling.assignment import presented_order
from annotate.labeling.labels import record_flag, record_label, record_skip
from annotate.config import Criterion, ProjectConfig
from annotate.data.importers import ColumnMapping, import_file
from annotate.judges.config import JudgeConfig
from annotate.projects import Project, create_project

DEMO_DATA = Path(__file__).parent / "demo_data"
PAIRWISE_PROJECT = "demo-pairwise"
RUBRIC_PROJECT = "demo-rubric"
DEMO_ACCOUNTS = {"admin": "admin", "demo-annotator": "annotator"}
DEMO_RATERS = ("alice", "bob", "chen")

GUIDELINES = """\
**Compare the two responses to the prompt.** Prefer the one that is more helpful, correct and
harmless. Judge the content, not the length: a short correct answer beats a long wrong one.

- *Much better*: one response is clearly preferable; the other has a real flaw.
- *Slightly better*: both are acceptable, one is somewhat better.
- *Tie*: you cannot tell them apart in quality. Tick *both are bad* when neither is acceptable.

Keys: `1`-`5` choose on the scale, `Ctrl+Enter` submit, `S` skip, `F` flag, `B` both bad, `D` highlight differences.
"""

RUBRIC_CRITERIA = [
    Criterion(name="helpfulness", description="Does the response address what the user asked?",
              scores={1: "Ignores or misreads the request", 2: "Addresses a small part of it",
                      3: "Addresses the main point with gaps", 4: "Addresses it fully with minor gaps",
                      5: "Addresses it fully and anticipates follow-ups"}),
    Criterion(name="correctness", description="Are the facts, code and reasoning right?",
              scores={1: "Mostly wrong", 2: "Several errors", 3: "One notable error",
                      4: "Minor inaccuracies only", 5: "Entirely correct"}),
    Criterion(name="clarity", description="Is it well organised and easy to read?",
              scores={1: "Confusing", 2: "Hard to follow", 3: "Readable", 4: "Clear", 5: "Exemplary"}),
]


def is_demo_needed(conn: Connection) -> bool:
    """True for a fresh database: no projects and no annotators."""
    cur = storage.cursor(conn)
    return project_store.list_projects(cur).empty and annotator_store.list_annotators(cur).empty


def create_demo(conn: Connection) -> dict[str, str]:
    """Create the two demo projects and the demo accounts; return {account name: invite token}."""
    pairwise = create_project(conn, PAIRWISE_PROJECT, ProjectConfig(
        task_type="pairwise", overlap=2, guidelines=GUIDELINES, highlight_diff=True))
    import_file(conn, pairwise, DEMO_DATA / "pairwise.jsonl",
                mapping=ColumnMapping(model_a="model_a", model_b="model_b"))
    rubric = create_project(conn, RUBRIC_PROJECT, ProjectConfig(
        task_type="rubric", overlap=2, criteria=RUBRIC_CRITERIA,
        guidelines="Score each response on every criterion, using the descriptions of each score."))
    import_file(conn, rubric, DEMO_DATA / "rubric.jsonl",
                mapping=ColumnMapping(responses=["response"], models=["model"], reference="reference"))
    tokens = {name: add_annotator(conn, name, role)[1] for name, role in DEMO_ACCOUNTS.items()}
    raters = {name: add_annotator(conn, name, "annotator")[0]["id"] for name in DEMO_RATERS}
    projects = {"pairwise": pairwise, "rubric": rubric}
    add_demo_labels(conn, projects, raters)
    add_demo_judgments(conn, projects)
    return tokens


def _read(name: str) -> list[dict]:
    with open(DEMO_DATA / name, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def add_demo_labels(conn: Connection, projects: dict[str, Project], raters: dict[str, int]) -> None:
    """Record demo_data/labels.jsonl through the ordinary label functions (pairwise values are
    canonical; each label keeps the order its rater would have been shown)."""
    cur = storage.cursor(conn)
    for row in _read("labels.jsonl"):
        project, annotator_id = projects[row["project"]], raters[row["annotator"]]
        item_id = item_store.item_id_for(cur, project.id, row["item"])
        if row["kind"] == "flag":
            record_flag(conn, project, annotator_id, item_id, row["note"])
        elif row["kind"] == "skip":
            record_skip(conn, project, annotator_id, item_id, row["note"])
        elif project.task_type == "pairwise":
            record_label(conn, project, annotator_id, item_id, {"overall": row["value"]},
                         presented_order=presented_order(annotator_id, item_id),
                         justification=row.get("justification"), seconds=row.get("seconds"))
        else:
            record_label(conn, project, annotator_id, item_id, {0: row["scores"]}, seconds=row.get("seconds"))


def add_demo_judgments(conn: Connection, projects: dict[str, Project]) -> None:
    """Store demo_data/judgments.jsonl as the judgments of external judges (canonical verdicts)."""
    rows = _read("judgments.jsonl")
    cur = storage.cursor(conn)
    judge_ids = {}
    for name in sorted({r["judge"] for r in rows}):
        config = JudgeConfig(name=name, backend="external", model=name)
        judge_ids[name] = storage.write(conn, lambda c: judgment_store.get_or_create_judge(
            c, name, "external", config.model_dump_json(), config.content_hash(None), None))
    frame = pd.DataFrame([{
        "judge_id": judge_ids[r["judge"]], "item_id": item_store.item_id_for(cur, projects[r["project"]].id, r["item"]),
        "aspect": r.get("criterion", "overall"), "response_idx": 0 if r["project"] == "rubric" else None,
        "presented_order": r.get("order"), "verdict": r.get("verdict"), "score": r.get("score"),
        "probs": r.get("probs"), "is_parsed": True, "rationale": r["rationale"], "source": "import"}
        for r in rows])
    storage.write(conn, lambda c: judgment_store.insert_judgments(c, frame))
