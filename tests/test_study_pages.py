"""The study pages from the app's entry point (AppTest): a study link that cannot admit the visitor
says why; a participant sees one page and no sidebar; the researchers' Study page opens and closes
the link with the URL for each platform, saves the settings in words, and shows the status, the
participants CSV, the pay per hour and the quality table. Plus the participant screen's rules
without Streamlit (annotate.study.screen) and the pay arithmetic (annotate.study.pay).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import storage
from annotate.labeling import forms
from annotate.labeling.annotators import add_annotator
from annotate.projects import get_project, update_config
from annotate.study import checks, flow, links, participants, screen as study_screen
from annotate.study.pay import estimated_pay
from study_setup import CODE, QUALIFICATION, make_study

pytestmark = pytest.mark.both_backends

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PID = "60aa11bb22cc33dd44ee55ff"


def open_app(db_path: Path, monkeypatch, **params: str) -> AppTest:
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def texts(elements) -> list[str]:
    return [e.value for e in elements]


RIGHT = ("Paris", "Red is a primary", "BANANA", "CHERRY")  # what the right answer of a known item says


def right_values(item: flow.StudyItem) -> dict:
    """The right answer to a practice or check item as shown (A or B much better), a tie elsewhere."""
    sides = [i for i, text in enumerate(item.assignment.responses) if any(text.startswith(r) for r in RIGHT)]
    return {"overall": (-2 if sides[0] == 0 else 2) if sides else 0}


def complete_study(conn, secret: str, pid: str) -> None:
    """Take a participant through the whole study with the library: right answers, a tie elsewhere."""
    participant = participants.enter_from_params(conn, {"study": secret, "PROLIFIC_PID": pid})
    uid = participant.annotator_id
    for what in (participants.CONSENT, participants.INSTRUCTIONS):
        participants.acknowledge(conn, uid, what)
    project = get_project(conn, participant.project_name)
    while (item := flow.next_study_item(conn, project, uid)) is not None:
        flow.submit(conn, project, uid, item.assignment.item_id, right_values(item))


def test_a_study_link_without_a_participant_id_says_so_instead_of_a_login_form(tmp_path, db_path, monkeypatch):
    db_path, secret = make_study(tmp_path, db_path=db_path)
    at = open_app(db_path, monkeypatch, study=secret)
    assert not at.exception
    assert "needs your participant id" in texts(at.warning)[0]
    assert not at.text_input  # no token form: participants have no invite token


def test_an_unfilled_prolific_placeholder_is_refused(tmp_path, db_path, monkeypatch):
    db_path, secret = make_study(tmp_path, db_path=db_path)
    at = open_app(db_path, monkeypatch, study=secret, PROLIFIC_PID="{{%PROLIFIC_PID%}}")
    assert "did not fill it in" in texts(at.warning)[0]


def test_a_revoked_study_link_says_the_study_is_closed(tmp_path, db_path, monkeypatch):
    db_path, secret = make_study(tmp_path, db_path=db_path)
    conn = storage.connect(db_path)
    links.revoke_link(conn, get_project(conn, "crowd"))
    conn.close()
    at = open_app(db_path, monkeypatch, study=secret, PROLIFIC_PID=PID)
    assert "This study is closed" in texts(at.warning)[0]


def test_a_participant_who_entered_before_the_link_closed_may_finish(tmp_path, db_path, monkeypatch):
    db_path, secret = make_study(tmp_path, db_path=db_path)
    at = open_app(db_path, monkeypatch, study=secret, PROLIFIC_PID=PID)
    assert texts(at.header) == ["Consent"]
    conn = storage.connect(db_path)
    links.revoke_link(conn, get_project(conn, "crowd"))
    conn.close()
    again = open_app(db_path, monkeypatch, study=secret, PROLIFIC_PID=PID)  # another browser, the same id
    assert not again.warning and texts(again.header) == ["Consent"]
    new = open_app(db_path, monkeypatch, study=secret, PROLIFIC_PID="someone0new")
    assert "This study is closed" in texts(new.warning)[0]


def test_a_full_study_turns_a_new_participant_away_and_lets_a_returning_one_in(tmp_path, db_path, monkeypatch):
    db_path, secret = make_study(tmp_path, db_path=db_path, max_participants=1)
    conn = storage.connect(db_path)
    participants.enter_from_params(conn, {"study": secret, "PROLIFIC_PID": PID})
    conn.close()
    at = open_app(db_path, monkeypatch, study=secret, PROLIFIC_PID="someone0else")
    assert "This study is full" in texts(at.warning)[0]
    at = open_app(db_path, monkeypatch, study=secret, PROLIFIC_PID=PID)
    assert not at.warning and texts(at.header) == ["Consent"]


def test_a_participant_sees_only_the_study_page_without_sidebar_or_ids(tmp_path, db_path, monkeypatch):
    db_path, secret = make_study(tmp_path, db_path=db_path, consent=False)
    at = open_app(db_path, monkeypatch, study=secret, pid="p-17")
    assert not at.exception and not at.error
    assert len(at.sidebar) == 0  # no project list, no page list, no name
    shown = " ".join(m.value for m in at.markdown)
    assert "What is the capital of France?" in shown  # the first practice item
    assert "t1" not in shown.split() and "p-17" not in shown and "crowd" not in shown


def test_consent_text_is_markdown_without_html_or_remote_images(tmp_path, db_path, monkeypatch):
    db_path, secret = make_study(tmp_path, db_path=db_path)
    conn = storage.connect(db_path)
    hostile = "Read **this**. <script>alert(1)</script> ![tracker](https://evil.example/pixel.png)"
    study = get_project(conn, "crowd").config.study.model_dump() | {"consent_text": hostile}
    update_config(conn, "crowd", {"study": study})
    conn.close()
    at = open_app(db_path, monkeypatch, study=secret, pid="p-1")
    consent = next(m for m in at.markdown if "Read **this**" in m.value)
    assert not consent.proto.allow_html  # the script is shown as text, never run
    assert "![" not in consent.value and "evil.example" in consent.value  # the image is a link, not fetched


def test_a_finished_participant_sees_the_code_again_on_a_later_visit(tmp_path, db_path, monkeypatch):
    db_path, secret = make_study(tmp_path, db_path=db_path)
    conn = storage.connect(db_path)
    complete_study(conn, secret, PID)
    conn.close()
    at = open_app(db_path, monkeypatch, study=secret, PROLIFIC_PID=PID)
    assert texts(at.success) == ["Thank you! You have finished the study."]
    assert texts(at.code) == [CODE]


def test_a_participant_under_the_practice_pass_mark_gets_the_qualification_code(tmp_path, db_path, monkeypatch):
    db_path, secret = make_study(tmp_path, db_path=db_path, consent=False, training_pass=1.0)
    conn = storage.connect(db_path)
    uid = participants.enter_from_params(conn, {"study": secret, "PROLIFIC_PID": PID}).annotator_id
    project = get_project(conn, "crowd")
    for _ in range(2):  # both practice items answered with a tie: wrong
        item = flow.next_study_item(conn, project, uid)
        flow.submit(conn, project, uid, item.assignment.item_id, {"overall": 0})
    conn.close()
    at = open_app(db_path, monkeypatch, study=secret, PROLIFIC_PID=PID)
    assert texts(at.success) == ["Thank you for doing the practice items."]
    assert texts(at.code) == [QUALIFICATION] and not at.get("bidi_component")  # no item, no controls
    button = at.get("link_button")[0].proto
    assert button.url == f"https://app.prolific.com/submissions/complete?cc={QUALIFICATION}"


@pytest.fixture
def researcher(tmp_path, db_path, monkeypatch):
    """The Study page of the study project, for a researcher; yields (at, db_path, secret)."""
    db_path, secret = make_study(tmp_path, db_path=db_path)
    conn = storage.connect(db_path)
    _, token = add_annotator(conn, "rita", "researcher")
    conn.close()
    at = open_app(db_path, monkeypatch, token=token)
    return at.switch_page("pages/study.py").run(), db_path, secret


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_researcher_closes_and_reopens_the_link_and_sees_the_url_for_each_platform(researcher):
    at, db_path, secret = researcher
    at = button(at, "Close the link").click().run()
    assert "nobody new can enter" in texts(at.info)[0]
    at = button(at, "Open the study link").click().run()
    urls = texts(at.code)
    assert urls[0].endswith("&PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}")
    assert "PROLIFIC_PID" not in urls[1] and urls[2].endswith("&pid=PARTICIPANT_ID")
    new_secret = urls[1].split("study=")[1]
    conn = storage.connect(db_path)
    assert links.project_for_link(conn, new_secret)[0].name == "crowd"
    with pytest.raises(Exception, match="no longer accepting"):
        links.project_for_link(conn, secret)  # the old link was revoked
    conn.close()
    at.run()
    assert not [c for c in texts(at.code) if "study=" in c]  # shown once


def test_researcher_saves_study_settings_in_words_and_a_bad_code_names_the_field(researcher):
    at, db_path, _ = researcher
    by_label = {w.label: w for w in [*at.number_input, *at.text_input, *at.text_area, *at.checkbox]}
    by_label["Items per participant (after the practice items)"].set_value(25)
    by_label["Share of items that are attention checks (%)"].set_value(10)
    by_label["Stop serving a participant who fails more checks than"].set_value(2)
    at = button(at, "Save study settings").click().run()
    assert "Study settings saved" in texts(at.success)[0]
    conn = storage.connect(db_path)
    study = get_project(conn, "crowd").config.study
    conn.close()
    assert (study.quota, study.attention_rate, study.max_attention_failures) == (25, 0.1, 2)
    assert study.consent_text.startswith("## Consent")  # the other settings are kept
    next(w for w in at.text_input if w.label.startswith("Or at these item numbers")).set_value("5, soon")
    at = button(at, "Save study settings").click().run()
    assert texts(at.error) == ["Attention check positions: 'soon' is not a whole number"]
    next(w for w in at.text_input if w.label.startswith("Or at these item numbers")).set_value("")
    next(w for w in at.text_input if w.label.startswith("Completion code")).set_value("has space")
    at = button(at, "Save study settings").click().run()
    assert "completion code may hold only letters" in texts(at.error)[0]


def test_study_page_shows_status_pay_csv_and_quality_after_participants_finish(tmp_path, db_path, monkeypatch):
    db_path, secret = make_study(tmp_path, db_path=db_path, overlap=2)
    conn = storage.connect(db_path)
    complete_study(conn, secret, PID)
    complete_study(conn, secret, "second0participant")
    storage.cursor(conn).execute("UPDATE study_participants SET started_at = finished_at - INTERVAL '20 minutes'")
    _, token = add_annotator(conn, "rita", "researcher")
    conn.close()
    at = open_app(db_path, monkeypatch, token=token).switch_page("pages/study.py").run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["Completed"] == "2"
    at.number_input[0].set_value(3.0).run()  # the reward per participant
    assert any("comes to **9.00 per hour**" in m.value for m in at.markdown)  # 3.00 for 20 minutes
    people = at.dataframe[0].value
    assert sorted(people["participant_id"]) == [PID, "second0participant"]
    assert set(people["status"]) == {"Completed"}
    csv = at.get("download_button")[0]
    assert csv.proto.label == "Download participants CSV (for bulk approval)"
    quality = at.dataframe[1].value
    assert len(quality) >= 2


def test_the_demo_project_page_says_what_a_study_needs_before_the_link_opens(tmp_path, db_path, monkeypatch):
    from annotate.data.demo import create_demo
    conn = storage.connect(db_path)
    create_demo(conn)
    _, token = add_annotator(conn, "rita", "researcher")
    conn.close()
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["token"] = token
    at.session_state["project"] = "demo-pairwise"  # AppTest keeps the sidebar's choice only when set so
    at = at.run().switch_page("pages/study.py").run()
    assert not at.exception and "No study link is open" in texts(at.info)[0]
    at = button(at, "Open the study link").click().run()
    assert "set a completion code before opening a study link" in texts(at.error)[0]


def test_a_participant_cannot_skip_even_with_a_crafted_message(tmp_path, db_path):
    db_path, secret = make_study(tmp_path, db_path=db_path, consent=False, training=0)
    conn = storage.connect(db_path)
    participant = participants.enter_from_params(conn, {"study": secret, "pid": "w1"})
    project = get_project(conn, "crowd")
    item = flow.next_study_item(conn, project, participant.annotator_id)
    state: dict = {}
    form = forms.show_form(state, item.assignment.item_id)
    data = study_screen.controls_data(project, item, form, rev=0, diff_on=False)
    assert data["can_skip"] is False
    message = {"type": "skip", "nonce": form.nonce, "item_id": data["item_id"], "note": "no"}
    result = study_screen.handle_action(conn, project, participant.annotator_id, state, message)
    assert result.outcome.is_refused and "no skipping" in result.outcome.message
    assert storage.cursor(conn).execute("SELECT count(*) FROM label_events").fetchone()[0] == 0
    submit = {"type": "submit", "nonce": form.nonce, "item_id": data["item_id"], "values": {"overall": -2}}
    assert study_screen.handle_action(conn, project, participant.annotator_id, state, submit).outcome.kind == "saved"
    again = study_screen.handle_action(conn, project, participant.annotator_id, state, submit)
    assert again.outcome.is_refused  # a repeated submit of the same form stores nothing more
    assert storage.cursor(conn).execute("SELECT count(*) FROM label_events").fetchone()[0] == 1
    conn.close()


def test_training_feedback_comes_back_with_the_submit(tmp_path, db_path):
    db_path, secret = make_study(tmp_path, db_path=db_path, consent=False)
    conn = storage.connect(db_path)
    participant = participants.enter_from_params(conn, {"study": secret, "pid": "w2"})
    project = get_project(conn, "crowd")
    item = flow.next_study_item(conn, project, participant.annotator_id)
    state: dict = {}
    form = forms.show_form(state, item.assignment.item_id)
    data = study_screen.controls_data(project, item, form, rev=0, diff_on=False)
    submit = {"type": "submit", "nonce": form.nonce, "item_id": data["item_id"], "values": {"overall": 2}}
    result = study_screen.handle_action(conn, project, participant.annotator_id, state, submit)
    conn.close()
    shown_b = item.assignment.responses[1].startswith("Paris")  # t1 expects the Paris answer
    assert result.feedback.is_correct is shown_b
    assert result.feedback.expected == f"response {'B' if shown_b else 'A'} is better"


def test_a_participants_browser_never_holds_a_database_item_id(tmp_path, db_path):
    """A check item has one database id for every participant: were it in the page, participants
    comparing their page source could tell the checks apart. The form nonce ties a message to the
    item instead, and a crafted message naming the database id is refused."""
    db_path, secret = make_study(tmp_path, db_path=db_path, consent=False, training=0, attention_positions=(1,))
    conn = storage.connect(db_path)
    participant = participants.enter_from_params(conn, {"study": secret, "pid": "w3"})
    project = get_project(conn, "crowd")
    item = flow.next_study_item(conn, project, participant.annotator_id)
    assert item.assignment.item_id in checks.check_item_ids(conn, project)  # the first item is the check
    state: dict = {}
    form = forms.show_form(state, item.assignment.item_id)
    data = study_screen.controls_data(project, item, form, rev=0, diff_on=False)
    assert data["item_id"] == study_screen.ON_SCREEN and item.assignment.item_id not in data.values()
    crafted = {"type": "submit", "nonce": form.nonce, "item_id": item.assignment.item_id, "values": {"overall": 2}}
    refused = study_screen.handle_action(conn, project, participant.annotator_id, state, crafted)
    assert refused.outcome.is_refused and "no longer on your screen" in refused.outcome.message
    sent = {**crafted, "item_id": data["item_id"]}
    assert study_screen.handle_action(conn, project, participant.annotator_id, state, sent).outcome.kind == "saved"
    conn.close()


def test_pay_per_hour_is_the_reward_over_the_median_time_of_completed_participants():
    status = {"median_minutes_per_participant": 20.0, "quota": 30, "median_seconds_per_item": 35.0}
    assert estimated_pay(status, 4.0) == {"per_hour": 12.0, "per_item": pytest.approx(4 / 30), "minutes": 20.0,
                                          "item_seconds": 35.0}
    assert estimated_pay({**status, "median_minutes_per_participant": None}, 4.0)["per_hour"] is None
