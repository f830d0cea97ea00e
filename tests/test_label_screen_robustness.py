"""The label screen and the project choice when the world changes under an open session, and label
messages a browser never sends (a tampered client): no traceback, nothing stored, a message in words."""
from __future__ import annotations

import pytest

import storage
from annotate.labeling import assignment, forms, screen
from annotate.projects import delete_project
from pages import session
from test_app import add_pairwise, add_rubric, app_db, controls_data, label_events, logged_in, send  # noqa: F401
from test_label_screen import setup  # noqa: F401


def app_conn():
    """The running app's own connection (a change made through it is what the app sees next)."""
    return session.get_conn()


@pytest.mark.parametrize("page", ["pages/label.py", "pages/history.py"])
def test_a_project_deleted_while_chosen_gives_a_message_not_a_traceback(app_db, tmp_path, page):
    add_pairwise(app_db, tmp_path)
    add_rubric(app_db, tmp_path)
    at = logged_in(app_db, project="pairs")
    if page != "pages/label.py":
        at.switch_page(page).run()
    delete_project(app_conn(), "pairs", "pairs")
    at.run()
    assert not at.exception, at.exception[0].message
    assert any("no longer exists" in info.value for info in at.info) or "rubric" in str(at.markdown)


def test_a_submit_after_the_project_was_deleted_stores_nothing_and_shows_no_traceback(app_db, tmp_path):
    project = add_pairwise(app_db, tmp_path)
    add_rubric(app_db, tmp_path)
    at = logged_in(app_db, project="pairs")
    data = controls_data(at)
    delete_project(app_conn(), "pairs", "pairs")
    at = send(at, "submit", data, values={"overall": 1})
    assert not at.exception, at.exception[0].message
    assert label_events(app_db, project.id).empty
    assert any("no longer exists" in info.value for info in at.info)


@pytest.mark.parametrize("extra", [
    {"values": [1]}, {"values": {"overall": 1}, "confidence": "x"}, {"values": {"overall": 1}, "confidence": 2.5},
    {"values": {"overall": 1}, "confidence": [1]}, {"values": {"overall": 1}, "justification": {"a": 1}},
], ids=["values-list", "confidence-text", "confidence-fraction", "confidence-list", "justification-object"])
def test_a_tampered_submit_is_refused_in_words_and_stores_nothing(db, setup, extra):
    """The browser controls never send these; a hand-made message must not raise (a traceback on the
    page) nor be coerced into a label (confidence 2.5 stored as 2)."""
    project, ann_id = setup
    item = assignment.next_item(db, project, ann_id)
    state: dict = {}
    form = forms.show_form(state, item.item_id)
    outcome = screen.handle_action(db, project, ann_id, state,
                                   {"type": "submit", "nonce": form.nonce, "item_id": form.item_id, **extra})
    assert outcome.is_refused and outcome.message
    assert storage.labels.current_label_values(storage.cursor(db), project.id).empty


def test_a_message_that_is_not_an_object_is_refused(db, setup):
    project, ann_id = setup
    assert screen.handle_action(db, project, ann_id, {}, "submit").is_refused


def test_the_admin_page_shows_a_name_that_looks_like_an_image_as_text(app_db, tmp_path):
    """An account name is never markup: `![x](URL)` in a message would make the admin's browser fetch URL."""
    add_pairwise(app_db, tmp_path)
    name = "![x](http://127.0.0.1:9/pixel.png)"
    at = logged_in(app_db, "boss", "admin")
    at.switch_page("pages/admin.py").run()
    at.text_input[0].set_value(name)
    at = next(b for b in at.button if b.label == "Create and invite").click().run()
    at.selectbox(key="admin_who").set_value(name)
    at = next(b for b in at.button if b.label == "Log out everywhere").click().run()
    shown = [m.body for m in [*at.success, *at.info]]
    assert shown and all("](http" not in text for text in shown), shown
