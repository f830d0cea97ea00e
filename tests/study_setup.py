"""A small crowd study for the study pages' tests and screenshots: a pairwise project whose items
are easy to judge by hand, two practice items, two attention checks, a consent form and
instructions, and an open study link.

The expected answers are unambiguous: the attention checks ask for the response that says a
given word, so a test (or a person) can answer them right or wrong on purpose.
"""
from __future__ import annotations

import json
from pathlib import Path

import storage
from annotate.config import ProjectConfig
from annotate.data.importers import import_file
from annotate.projects import create_project, get_project, update_config
from annotate.study import checks, links

CONSENT = "## Consent\n\nYou will compare **two answers** per question. Your answers are stored without your name."
INSTRUCTIONS = "Choose the answer that is *more helpful*. Take your time: read both answers."
CODE, QUALIFICATION = "C0MPLETE-42", "PRACTICE-7"
REDIRECT = "https://app.prolific.com/submissions/complete?cc={code}"
TRAINING_EXPLANATION = "Paris is the capital of France; the other answer does not answer the question."


def study_rows(n_real: int) -> list[dict]:
    """Real items plus two practice items (t1, t2) and two attention checks (c1, c2)."""
    rows = [{"id": f"q{i}", "prompt": f"Question {i}: what is {i} plus {i}?", "response_a": f"It is {2 * i}.",
             "response_b": f"{i} and {i} make {2 * i}."} for i in range(n_real)]
    rows += [{"id": "t1", "prompt": "What is the capital of France?", "response_a": "I like trains.",
              "response_b": "Paris is the capital of France."},
             {"id": "t2", "prompt": "Name a primary colour.", "response_a": "Red is a primary colour.",
              "response_b": "Bananas are yellow sometimes."},
             {"id": "c1", "prompt": "Attention: pick the answer that says BANANA.", "response_a": "APPLE",
              "response_b": "BANANA"},
             {"id": "c2", "prompt": "Attention: pick the answer that says CHERRY.", "response_a": "CHERRY",
              "response_b": "GRAPE"}]
    return rows


def make_study(tmp_path: Path, name: str = "crowd", *, n_real: int = 12, quota: int = 4, overlap: int = 1,
               training: int = 2, training_pass: float = 0.5, attention_positions: tuple[int, ...] = (2,),
               max_failures: int | None = 1, max_participants: int | None = None,
               consent: bool = True, db_path: Path | str | None = None) -> tuple[Path | str, str]:
    """A database with one study project and its link open; returns (db_path, link secret).

    `db_path` may be a PostgreSQL URL (tests/conftest.py's `db_path` fixture); default a DuckDB file.
    """
    db_path = db_path or tmp_path / f"{name}.duckdb"
    data = tmp_path / f"{name}.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in study_rows(n_real)))
    conn = storage.connect(db_path)
    config = ProjectConfig(task_type="pairwise", overlap=overlap, ask_confidence=False, justification="off")
    project = create_project(conn, name, config)
    import_file(conn, project, data)
    checks.mark_item(conn, project, "t1", "training", "B", TRAINING_EXPLANATION)
    checks.mark_item(conn, project, "t2", "training", "A", "Red is a primary colour; bananas are not a colour.")
    checks.mark_item(conn, project, "c1", "attention", "B")
    checks.mark_item(conn, project, "c2", "attention", "A")
    update_config(conn, name, {"study": {
        "quota": quota, "max_participants": max_participants, "completion_code": CODE,
        "qualification_code": QUALIFICATION, "redirect_url": REDIRECT,
        "consent_text": CONSENT if consent else "", "instructions_text": INSTRUCTIONS if consent else "",
        "training_items": training, "training_pass": training_pass if training else 0.0,
        "attention_positions": list(attention_positions), "max_attention_failures": max_failures}})
    secret = links.open_link(conn, get_project(conn, name))
    conn.close()
    return db_path, secret
