"""The Review page's "Use as a check" tab: a researcher makes the open item an attention check or a
practice item of a crowd study (expected answer in words, with the models' names), sees that it is
one, and makes it an ordinary item again (issue 19: check items "marked on the review page")."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.data.demo import create_demo
from annotate.labeling import review
from annotate.labeling.annotators import add_annotator
from annotate.projects import get_project
from annotate.study import checks

pytestmark = pytest.mark.both_backends

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def review_page(db, db_path, monkeypatch):
    """Open the Review page of a demo project as a researcher; returns a function(project name)."""
    create_demo(db)
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    _, token = add_annotator(db, "rachel", "researcher")

    def open_page(project: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.session_state["project"] = project
        at.query_params["token"] = token
        at = at.run().switch_page("pages/review.py").run()
        assert not at.exception
        return at
    return open_page


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def check_of(db, project: str, item: str) -> dict | None:
    return checks.check_of_item(db, get_project(db, project), item)


def test_an_item_becomes_a_practice_item_then_an_attention_check_then_ordinary_again(db, review_page):
    at = review_page("demo-pairwise")
    next(s for s in at.selectbox if s.label == "Open item").set_value("pw-03").run()
    answer = next(r for r in at.radio if r.label == "Expected answer")
    models = {r["letter"]: r["model"] for r in review.review_item(db, "demo-pairwise", "pw-03").item["responses"]}
    assert answer.options == [f"Response A ({models['A']}) is better", "A tie",
                              f"Response B ({models['B']}) is better"]
    assert check_of(db, "demo-pairwise", "pw-03") is None

    button(at, "Use as attention check").click().run()  # no answer chosen yet: nothing is marked
    assert any(e.value == "Choose the expected answer first." for e in at.error)
    assert check_of(db, "demo-pairwise", "pw-03") is None

    next(r for r in at.radio if r.label == "Expected answer").set_value("B")
    next(t for t in at.text_area if t.label.startswith("Explanation")).input("B answers the question asked.")
    button(at, "Use as practice item").click().run()
    assert not at.exception
    scale = [p.value for p in get_project(db, "demo-pairwise").config.scale]
    assert check_of(db, "demo-pairwise", "pw-03") == {
        "purpose": "training", "answer": "response B is better", "expected": {"overall": max(scale)},
        "explanation": "B answers the question asked."}
    assert any(i.value.startswith("This item is a practice item of the study. Expected answer: response B is better.")
               for i in at.info)

    button(at, "Use as attention check").click().run()  # the answer and explanation stay as they were
    assert check_of(db, "demo-pairwise", "pw-03")["purpose"] == "attention"
    assert any(i.value.startswith("This item is an attention check") for i in at.info)

    button(at, "Stop using it as a check").click().run()
    assert not at.exception
    assert check_of(db, "demo-pairwise", "pw-03") is None
    assert not [i for i in at.info if i.value.startswith("This item is")]


def test_a_rubric_item_takes_a_score_per_criterion_and_response(db, review_page):
    at = review_page("demo-rubric")
    item = next(s for s in at.selectbox if s.label == "Open item").value
    project = get_project(db, "demo-rubric")
    criteria = [c.name for c in project.config.criteria]
    sliders = [s for s in at.select_slider if s.label.startswith("Expected: response")]
    responses = review.review_item(db, "demo-rubric", item).item["responses"]
    assert len(sliders) == len(criteria) * len(responses)
    first = responses[0]
    slider = next(s for s in sliders
                  if s.label == f"Expected: response {first['letter']} ({first['model']}), {criteria[0]}")
    top = list(project.config.criteria[0].scores)[-1]
    slider.set_value(top)
    button(at, "Use as attention check").click().run()
    assert not at.exception
    marked = check_of(db, "demo-rubric", item)
    assert marked["purpose"] == "attention" and marked["expected"]["0"][criteria[0]] == top
    assert sorted(marked["expected"]) == [str(i) for i in range(len(responses))]


def test_any_item_can_be_opened_by_its_id_even_when_the_queue_is_empty(db, review_page):
    """Checks are chosen before anyone labels: an item that is in no queue can be marked too."""
    at = review_page("demo-pairwise")
    next(r for r in at.radio if r.label == "Status").set_value("closed").run()  # nothing closed yet: empty
    assert any(i.value == "Nothing to review with these filters." for i in at.info)
    typed = next(t for t in at.text_input if t.label == "Or any item of the project, by its id")
    typed.input("no-such-item").run()
    assert any("No item 'no-such-item'" in e.value for e in at.error)
    queued = set(review.review_queue(db, "demo-pairwise").items["id"])
    item = next(i for i in (f"pw-{n:02d}" for n in range(1, 40)) if i not in queued)  # in no queue
    next(t for t in at.text_input if t.label == "Or any item of the project, by its id").input(item).run()
    assert not at.exception and any(m.value == f"Item {item}" for m in at.subheader)
    next(r for r in at.radio if r.label == "Expected answer").set_value("A")
    button(at, "Use as attention check").click().run()
    assert check_of(db, "demo-pairwise", item)["purpose"] == "attention"
