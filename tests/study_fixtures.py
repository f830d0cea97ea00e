"""Helpers shared by the tests/test_study_*.py files: a pairwise project of 40 items, 12 of which
carry a gold answer (imported with --map gold=answer), made ready for a study."""
from __future__ import annotations

import json
from pathlib import Path

from annotate.data.adapters import import_items
from annotate.data.import_batch import parse_mapping
from annotate.projects import Project, get_project, update_config
from annotate.study import checks

N_ITEMS, N_GOLD = 40, 12
SETTINGS = {"quota": 6, "completion_code": "C0MPLETE", "qualification_code": "QUAL1",
            "redirect_url": "https://app.prolific.com/submissions/complete?cc={code}"}


def gold_answer(number: int) -> str:
    """The gold verdict of gold item g<number>: A, B and tie in turn."""
    return ["A", "B", "tie"][number % 3]


def make_study_project(conn, tmp_path: Path, name: str = "crowd", n_items: int = N_ITEMS,
                       overlap: int = 3, **settings) -> Project:
    """Import n_items real items (r0..) and N_GOLD gold items (g0..), and set the study settings."""
    path = tmp_path / f"{name}.jsonl"
    with path.open("w") as f:
        for i in range(n_items):
            f.write(json.dumps({"id": f"r{i}", "prompt": f"Question {i}?", "response_a": f"first answer {i}",
                                "response_b": f"second answer {i}", "answer": ""}) + "\n")
        for i in range(N_GOLD):
            f.write(json.dumps({"id": f"g{i}", "prompt": f"Check {i}?", "response_a": f"good {i}",
                                "response_b": f"bad {i}", "answer": gold_answer(i)}) + "\n")
    import_items(conn, name, path, mapping=parse_mapping(["gold=answer"]))
    update_config(conn, name, {"overlap": overlap, "study": {**SETTINGS, **settings}})
    return get_project(conn, name)


def mark_checks(conn, project: Project, training: int = 3, attention: int = 6) -> None:
    """g0..g(training-1) become training items, the next `attention` gold items attention checks."""
    ids = [f"g{i}" for i in range(N_GOLD)]
    if training:
        checks.mark_from_gold(conn, project, "training", item_ids=ids[:training], explanation="Look at the facts.")
    if attention:
        checks.mark_from_gold(conn, project, "attention", item_ids=ids[training:training + attention])


def expected_on_screen(project: Project, assignment, conn) -> dict:
    """The right answer to a check item as the participant's screen lays it out."""
    item = checks.check_items(conn, project)
    expected = item.loc[item["item_id"] == assignment.item_id, "expected"].iloc[0]
    return checks.expected_as_presented(project, expected, assignment.presented_order)


def wrong_on_screen(right: dict) -> dict:
    """An answer with the opposite verdict (a tie becomes 'left is much better')."""
    return {aspect: (-value if value else -2) for aspect, value in right.items()}
