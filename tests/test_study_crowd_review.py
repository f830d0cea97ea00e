"""Crowd studies as a researcher meets them (review of issue 19): the pass mark as the Study page
takes it (whole percent), and the page a participant sees when the practice ends their study."""
from __future__ import annotations

import pytest

from annotate.projects import get_project
from annotate.study import flow, links, participants
from study_fixtures import expected_on_screen, make_study_project, mark_checks, wrong_on_screen

pytestmark = pytest.mark.both_backends


def _study(conn, tmp_path, **settings):
    project = make_study_project(conn, tmp_path, **settings)
    mark_checks(conn, project, training=3, attention=6)
    project = get_project(conn, project.name)
    return project, links.open_link(conn, project)


def _practice(conn, project, annotator_id, right: set[int]) -> None:
    """Answer the three practice items, right at the (0-based) positions in `right`."""
    for position in range(3):
        item = flow.next_study_item(conn, project, annotator_id)
        assert item.is_training
        expected = expected_on_screen(project, item.assignment, conn)
        flow.submit(conn, project, annotator_id, item.assignment.item_id,
                    expected if position in right else wrong_on_screen(expected))


def test_two_of_three_practice_items_reach_a_pass_mark_of_67_percent(db, tmp_path):
    # The Study page takes the mark in whole percent: "67%" is how a researcher says "2 of 3".
    project, secret = _study(db, tmp_path, training_items=3, training_pass=0.67)
    two = participants.enter(db, project, secret, {"PROLIFIC_PID": "p2of3"})
    _practice(db, project, two.annotator_id, right={0, 1})
    assert participants.participant_of(db, two.annotator_id).status == "active"
    assert not flow.next_study_item(db, project, two.annotator_id).is_training
    one = participants.enter(db, project, secret, {"PROLIFIC_PID": "p1of3"})
    _practice(db, project, one.annotator_id, right={0})
    assert participants.participant_of(db, one.annotator_id).status == "failed_qualification"


def test_a_pass_mark_of_100_percent_still_needs_every_practice_item_right():
    assert flow.passes_training(3, 3, 1.0) and not flow.passes_training(2, 3, 1.0)
    assert not flow.passes_training(199, 200, 1.0) and not flow.passes_training(2, 3, 0.7)
    assert flow.passes_training(0, 3, 0.0)


def test_the_end_of_a_failed_practice_thanks_once_then_says_why(tmp_path, db_path, monkeypatch):
    import storage
    from study_setup import QUALIFICATION, make_study
    from test_study_pages import open_app, texts
    db_path, secret = make_study(tmp_path, db_path=db_path, consent=False, training_pass=1.0)
    conn = storage.connect(db_path)
    uid = participants.enter_from_params(conn, {"study": secret, "PROLIFIC_PID": "p-ended"}).annotator_id
    project = get_project(conn, "crowd")
    for _ in range(2):  # both practice items answered with a tie: wrong
        item = flow.next_study_item(conn, project, uid)
        flow.submit(conn, project, uid, item.assignment.item_id, {"overall": 0})
    conn.close()
    at = open_app(db_path, monkeypatch, study=secret, PROLIFIC_PID="p-ended")
    page = " ".join([*texts(at.success), *texts(at.markdown)])
    assert page.count("Thank you for doing the practice items") == 1
    assert "did not reach the score" in page and texts(at.code) == [QUALIFICATION]


def test_the_participants_table_shows_no_code_as_blank_not_none(tmp_path, db_path, monkeypatch):
    import storage
    from annotate.labeling.annotators import add_annotator
    from study_setup import make_study
    from test_study_pages import open_app
    db_path, secret = make_study(tmp_path, db_path=db_path)
    conn = storage.connect(db_path)
    participants.enter_from_params(conn, {"study": secret, "PROLIFIC_PID": "still-working"})
    _, token = add_annotator(conn, "rita", "researcher")
    conn.close()
    at = open_app(db_path, monkeypatch, token=token).switch_page("pages/study.py").run()
    table = next(frame.value for frame in at.dataframe if "completion_code" in frame.value.columns)
    assert table["completion_code"].tolist() == [""]  # a participant still working has no code yet
