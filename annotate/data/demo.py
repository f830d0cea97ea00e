"""The demo project: what the app opens on when started without a database.

The items live in annotate/data/demo_data/ as JSONL and go through the ordinary importer, so the demo
also exercises the import path a user takes.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

import storage
from storage import annotators as annotator_store, projects as project_store
from annotate.labeling.annotators import add_annotator
from annotate.config import Criterion, ProjectConfig
from annotate.data.importers import ColumnMapping, import_file
from annotate.projects import create_project

DEMO_DATA = Path(__file__).parent / "demo_data"
PAIRWISE_PROJECT = "demo-pairwise"
RUBRIC_PROJECT = "demo-rubric"
DEMO_ACCOUNTS = {"admin": "admin", "demo-annotator": "annotator"}

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


def is_demo_needed(conn: duckdb.DuckDBPyConnection) -> bool:
    """True for a fresh database: no projects and no annotators."""
    cur = storage.cursor(conn)
    return project_store.list_projects(cur).empty and annotator_store.list_annotators(cur).empty


def create_demo(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
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
    return {name: add_annotator(conn, name, role)[1] for name, role in DEMO_ACCOUNTS.items()}
