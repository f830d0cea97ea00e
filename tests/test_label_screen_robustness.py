"""The label screen and the project choice when the world changes under an open session, and label
messages a browser never sends (a tampered client): no traceback, nothing stored, a message in words."""
from __future__ import annotations

import pytest

from annotate.labeling import assignment, forms, screen
from annotate.projects import archive_project, delete_project
from test_app import add_pairwise, add_rubric, app_db, controls_data, label_events, logged_in, send  # noqa: F401
from test_label_screen import make_project, setup, _add  # noqa: F401


@pytest.mark.parametrize("page", ["pages/label.py", "pages/history.py"])
def test_a_project_deleted_while_chosen_gives_a_message_not_a_traceback(app_db, tmp_path, page):
    add_pairwise(app_db, tmp_path)
    add_rubric(app_db, tmp_path)
    at = logged_in(app_db, project="pairs")
    if page != "pages/label.py":
        at.switch_page(page).run()
    delete_project(app_db, "pairs", "pairs")
    at.run()
    assert not at.exception, at.exception[0].message
    assert at.session_state["project"] == "rubric"


def test_a_submit_after_the_project_was_deleted_stores_nothing_and_shows_no_traceback(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    add_rubric(app_db, tmp_path)
    at = logged_in(app_db, project="pairs")
    data = controls_data(at)
    delete_project(app_db, "pairs", "pairs")
    at = send(at, "submit", data, values={"overall": 1})
    assert not at.exception, at.exception[0].message
    assert label_events(app_db, project.id).empty
    assert any("no longer exists" in info.value for info in at.info)


def test_an_archived_project_leaves_the_sidebar_choice_on_the_next_page_run(app_db, tmp_path):
    add_pairwise(app_db, tmp_path)
    add_rubric(app_db, tmp_path)
    at = logged_in(app_db, project="pairs")
    archive_project(app_db, "pairs")
    at.run()
    assert not at.exception
    assert at.session_state["project"] == "rubric"
