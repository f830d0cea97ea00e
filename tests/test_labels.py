"""Writing labels: canonical order, validation, append-only edits, skips and flags."""
from __future__ import annotations

import pytest

import storage
from annotate.labeling.annotators import add_annotator, set_active
from annotate.config import Aspect, Criterion, ProjectConfig
from annotate.errors import LabelError, NotFoundError
from annotate.data.importers import ImportBatch, Record, write_batch
from annotate.labeling.labels import canonical_values, edit_label, record_flag, record_label, record_skip
from annotate.projects import create_project
from storage import labels as label_store

pytestmark = pytest.mark.both_backends


def make_project(db, config: ProjectConfig, n_items: int = 2, n_responses: int = 2):
    project = create_project(db, "p", config)
    batch = ImportBatch()
    for i in range(n_items):
        batch.add_item(Record(f"test item {i}", {}), f"i{i}", f"prompt {i}",
                       [(f"response {r}", None) for r in range(n_responses)])

    write_batch(db, project, batch)
    ids = [r[0] for r in storage.cursor(db).execute("SELECT id FROM items ORDER BY id").fetchall()]
    return project, ids


@pytest.fixture
def pairwise(db):
    return make_project(db, ProjectConfig(task_type="pairwise", aspects=[Aspect(name="helpfulness")]))


@pytest.fixture
def annotator(db):
    return add_annotator(db, "ann")[0]["id"]


def test_swapped_presentation_stores_the_preference_in_canonical_order(db, pairwise, annotator):
    project, items = pairwise
    # B was shown on the left and the annotator said "left is much better": canonical B is much better.
    values = canonical_values({"overall": -2, "helpfulness": -1}, "BA")
    event_id = record_label(db, project, annotator, items[0], values, presented_order="BA")
    stored = label_store.get_event(storage.cursor(db), event_id)
    assert stored["presented_order"] == "BA"
    assert sorted(stored["values"]) == [("helpfulness", None, 1.0), ("overall", None, 2.0)]


def test_values_off_the_scale_or_missing_aspects_are_refused(db, pairwise, annotator):
    project, items = pairwise
    with pytest.raises(LabelError, match="not on the scale"):
        record_label(db, project, annotator, items[0], {"overall": 3, "helpfulness": 0})
    with pytest.raises(LabelError, match="missing \\['helpfulness'\\]"):
        record_label(db, project, annotator, items[0], {"overall": 1})
    assert label_store.count_label_events(storage.cursor(db)) == 0


def test_a_second_label_on_the_same_item_is_refused_and_the_first_kept(db, pairwise, annotator):
    project, items = pairwise
    first = record_label(db, project, annotator, items[0], {"overall": 1, "helpfulness": 1})
    with pytest.raises(LabelError, match=f"already labeled item {items[0]}; edit event {first} instead"):
        record_label(db, project, annotator, items[0], {"overall": -1, "helpfulness": -1})
    current = label_store.current_label_values(storage.cursor(db), project.id)
    assert current["event_id"].unique().tolist() == [first]


def test_an_edit_is_a_new_event_and_the_old_one_stays(db, pairwise, annotator):
    project, items = pairwise
    first = record_label(db, project, annotator, items[0], {"overall": 1, "helpfulness": 1}, presented_order="BA")
    second = edit_label(db, project, annotator, first, {"overall": -2, "helpfulness": 0})
    cur = storage.cursor(db)
    assert label_store.get_event(cur, second)["supersedes"] == first
    assert label_store.get_event(cur, second)["presented_order"] == "BA"
    assert label_store.get_event(cur, first)["values"]  # the old event is still there
    current = label_store.current_label_values(cur, project.id)
    assert current["event_id"].unique().tolist() == [second]
    events = label_store.label_events_frame(cur, project.id)
    assert events["is_superseded"].tolist() == [True, False]
    with pytest.raises(LabelError, match=f"Event {first} is not the annotator's current label"):
        edit_label(db, project, annotator, first, {"overall": 0, "helpfulness": 0})


def test_an_annotator_cannot_edit_someone_elses_label(db, pairwise, annotator):
    project, items = pairwise
    event = record_label(db, project, annotator, items[0], {"overall": 1, "helpfulness": 1})
    other = add_annotator(db, "other")[0]["id"]
    with pytest.raises(NotFoundError, match=f"No label event {event} by this annotator"):
        edit_label(db, project, other, event, {"overall": 0, "helpfulness": 0})


def test_deactivated_annotators_and_foreign_items_are_refused(db, pairwise, annotator):
    project, items = pairwise
    with pytest.raises(NotFoundError, match="No item 999999 in project 'p'"):
        record_label(db, project, annotator, 999999, {"overall": 1, "helpfulness": 1})
    set_active(db, "ann", False)
    with pytest.raises(NotFoundError, match=f"No active annotator {annotator}"):
        record_label(db, project, annotator, items[0], {"overall": 1, "helpfulness": 1})


def test_required_justification_has_a_minimum_length(db, annotator):
    project, items = make_project(db, ProjectConfig(task_type="pairwise", justification="required",
                                                    justification_min_chars=10))
    with pytest.raises(LabelError, match="at least 10 characters is required \\(got 4\\)"):
        record_label(db, project, annotator, items[0], {"overall": 0}, justification="meh.")
    record_label(db, project, annotator, items[0], {"overall": 0}, justification="Both say the same thing.")


def test_rubric_label_needs_every_criterion_for_every_response(db, annotator):
    config = ProjectConfig(task_type="rubric", criteria=[
        Criterion(name="helpfulness", scores={1: "a", 2: "b", 3: "c"}),
        Criterion(name="clarity", scores={0: "x", 1: "y"})])
    project, items = make_project(db, config, n_responses=3)
    with pytest.raises(LabelError, match="needs scores for responses \\[0, 1, 2\\]"):
        record_label(db, project, annotator, items[0], {0: {"helpfulness": 1, "clarity": 0}})
    with pytest.raises(LabelError, match="Response 1, criterion 'clarity': score 5"):
        record_label(db, project, annotator, items[0], {i: {"helpfulness": 1, "clarity": 5 if i else 0}
                                                         for i in range(3)})
    record_label(db, project, annotator, items[0], {i: {"helpfulness": 3 - i, "clarity": i % 2} for i in range(3)})
    current = label_store.current_label_values(storage.cursor(db), project.id)
    assert len(current) == 6 and sorted(current["response_idx"].unique()) == [0, 1, 2]


def test_skip_needs_a_reason_and_flag_a_comment(db, pairwise, annotator):
    project, items = pairwise
    with pytest.raises(LabelError, match="A skip needs a reason"):
        record_skip(db, project, annotator, items[0], "  ")
    record_skip(db, project, annotator, items[0], "I don't read Python")
    record_flag(db, project, annotator, items[1], "Response B contains a phone number")
    events = label_store.label_events_frame(storage.cursor(db), project.id)
    assert events[["kind", "note"]].values.tolist() == [["skip", "I don't read Python"],
                                                        ["flag", "Response B contains a phone number"]]
