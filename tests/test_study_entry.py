"""Entering a crowd study through its public link: participant ids, same id continues, cap, revoked links."""
from __future__ import annotations

import pytest

import storage
from annotate.errors import ConfigError
from annotate.labeling import auth
from annotate.projects import get_project
from annotate.study import flow, links, participants
from annotate.study.errors import ParticipantIdError, StudyError, StudyFullError, StudyLinkError
from study_fixtures import make_study_project, mark_checks

pytestmark = pytest.mark.both_backends

PROLIFIC = {"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "stud1", "SESSION_ID": "sess1"}


@pytest.fixture
def study(db, tmp_path):
    project = make_study_project(db, tmp_path)
    mark_checks(db, project, training=0, attention=0)
    return project, links.open_link(db, project)


def test_first_visit_creates_an_anonymous_participant_with_the_platform_ids(db, study):
    project, secret = study
    person = participants.enter(db, project, secret, PROLIFIC)
    assert person.is_new and person.status == "active" and person.project_name == "crowd"
    assert PROLIFIC["PROLIFIC_PID"] not in person.name  # the platform id is never the name others see
    row = storage.cursor(db).execute("SELECT kind, role, token_hash FROM annotators WHERE id = ?",
                                     [person.annotator_id]).fetchone()
    assert row == ("participant", "annotator", None)
    stored = participants.find_participant(db, project, PROLIFIC["PROLIFIC_PID"])
    assert (stored["platform"], stored["study_id"], stored["session_id"]) == ("prolific", "stud1", "sess1")


def test_mturk_and_generic_ids_are_read_from_their_parameters(db, study):
    project, secret = study
    worker = participants.enter(db, project, secret, {"workerId": "A1B2C3", "assignmentId": "ASG9", "hitId": "HIT7"})
    generic = participants.enter(db, project, secret, {"pid": "volunteer-17"})
    row = participants.find_participant(db, project, "A1B2C3")
    assert (row["platform"], row["study_id"], row["session_id"]) == ("mturk", "HIT7", "ASG9")
    assert participants.find_participant(db, project, "volunteer-17")["platform"] == "generic"
    assert worker.annotator_id != generic.annotator_id


def test_the_same_id_comes_back_to_the_same_participant_and_continues_where_it_left(db, study):
    project, secret = study
    first = participants.enter(db, project, secret, PROLIFIC)
    for _ in range(2):
        item = flow.next_study_item(db, project, first.annotator_id)
        flow.submit(db, project, first.annotator_id, item.assignment.item_id, {"overall": 1})
    on_screen = flow.next_study_item(db, project, first.annotator_id)
    again = participants.enter(db, project, secret, {**PROLIFIC, "SESSION_ID": "another-session"})
    assert again.annotator_id == first.annotator_id and not again.is_new
    resumed = flow.next_study_item(db, project, again.annotator_id)
    assert resumed.assignment.item_id == on_screen.assignment.item_id and resumed.number == 3


def test_one_id_cannot_take_two_places_even_when_written_directly(db, study):
    project, secret = study
    person = participants.enter(db, project, secret, PROLIFIC)
    with pytest.raises(Exception, match="(?i)duplicate key|unique constraint"):
        storage.cursor(db).execute("""INSERT INTO study_participants (annotator_id, project_id, participant_id,
                                      platform, started_at) VALUES (?, ?, ?, 'prolific', now())""",
                                   [person.annotator_id + 100, project.id, PROLIFIC["PROLIFIC_PID"]])


def test_the_participant_cap_refuses_new_ids_but_lets_the_admitted_come_back(db, study):
    project, secret = study
    links.update_settings(db, project, max_participants=2)
    project = get_project(db, project.name)
    participants.enter(db, project, secret, {"pid": "one"})
    participants.enter(db, project, secret, {"pid": "two"})
    with pytest.raises(StudyFullError, match="all 2 places are taken"):
        participants.enter(db, project, secret, {"pid": "three"})
    assert not participants.enter(db, project, secret, {"pid": "one"}).is_new


def test_a_revoked_link_is_refused_and_a_replaced_link_stops_admitting(db, study):
    project, secret = study
    with pytest.raises(StudyError, match="already has an open study link"):
        links.open_link(db, project)
    newer = links.open_link(db, project, replace=True)
    with pytest.raises(StudyLinkError, match="closed"):
        participants.enter(db, project, secret, PROLIFIC)
    assert participants.enter(db, project, newer, PROLIFIC).is_new
    links.revoke_link(db, project)
    with pytest.raises(StudyLinkError, match="no longer accepting"):
        participants.enter(db, project, newer, {"pid": "late"})
    # who entered before the link closed comes back to finish (through either link they were given)
    assert not participants.enter(db, project, newer, PROLIFIC).is_new
    assert not participants.enter(db, project, secret, PROLIFIC).is_new
    with pytest.raises(StudyLinkError, match="not valid"):
        participants.enter(db, project, "made-up-secret", PROLIFIC)
    assert links.link_state(db, project)["is_open"] is False


def test_only_the_hash_of_the_link_secret_is_stored(db, study):
    _, secret = study
    stored = storage.cursor(db).execute("SELECT secret_hash FROM study_links").fetchall()
    assert all(secret not in row[0] for row in stored)


@pytest.mark.parametrize("params, message", [
    ({}, "needs your participant id"),
    ({"PROLIFIC_PID": "{{%PROLIFIC_PID%}}"}, "without your participant id"),
    ({"workerId": "A1", "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}, "accept the HIT first"),
    ({"pid": "bad id with spaces"}, "not one a study platform uses"),
])
def test_links_without_a_usable_participant_id_are_refused_with_a_sentence(db, study, params, message):
    project, secret = study
    with pytest.raises(ParticipantIdError, match=message):
        participants.enter(db, project, secret, params)
    assert storage.cursor(db).execute("SELECT count(*) FROM study_participants").fetchone()[0] == 0


def test_the_study_parameter_of_the_url_finds_the_project(db, study):
    project, secret = study
    person = participants.enter_from_params(db, {"study": secret, **PROLIFIC})
    assert person.project_name == project.name


def test_a_participant_session_works_like_a_login(db, study):
    project, secret = study
    person = participants.enter(db, project, secret, PROLIFIC)
    user = participants.start_session(db, person, "10.0.0.1")
    again = auth.resume_session(db, user[auth.SESSION_KEY])
    assert again["id"] == person.annotator_id and again["role"] == "annotator"


def test_consent_and_instructions_come_before_the_first_item(db, tmp_path):
    project = make_study_project(db, tmp_path, consent_text="I agree to take part.",
                                 instructions_text="Pick the better answer.")
    secret = links.open_link(db, project)
    person = participants.enter(db, project, secret, PROLIFIC)
    assert person.needs_consent and person.needs_instructions
    with pytest.raises(StudyError, match="consent"):
        flow.next_study_item(db, project, person.annotator_id)
    with pytest.raises(StudyError, match="consent form first"):
        participants.acknowledge(db, person.annotator_id, "instructions")
    participants.acknowledge(db, person.annotator_id, "consent")
    person = participants.acknowledge(db, person.annotator_id, "instructions")
    assert not person.needs_consent and not person.needs_instructions
    row = participants.find_participant(db, project, PROLIFIC["PROLIFIC_PID"])
    assert row["consented_at"] is not None and row["instructions_at"] >= row["consented_at"]
    assert flow.next_study_item(db, project, person.annotator_id) is not None


def test_opening_a_link_needs_a_completion_code_and_enough_check_items(db, tmp_path):
    project = make_study_project(db, tmp_path, completion_code="", training_items=2, qualification_code="Q")
    with pytest.raises(ConfigError, match="completion code"):
        links.open_link(db, project)
    project = links.update_settings(db, project, completion_code="DONE")
    with pytest.raises(ConfigError, match="2 training items but 0 are marked"):
        links.open_link(db, project)


@pytest.mark.parametrize("changes, message", [
    ({"quota": 0}, "study.quota"),
    ({"completion_code": "has space"}, "only letters, digits"),
    ({"redirect_url": "prolific.com"}, "must start with http"),
    ({"attention_positions": [3, 99]}, "between 1 and the quota"),
    ({"training_pass": 0.5}, "needs training items"),
    ({"attention_rate": 0.9}, "study.attention_rate"),
    ({"colour": "red"}, "unknown study setting"),
])
def test_invalid_study_settings_are_refused_in_words(db, study, changes, message):
    project, _ = study
    with pytest.raises(ConfigError, match=message):
        links.update_settings(db, project, **changes)


def test_deleting_the_project_removes_its_study_and_participants(db, study):
    from annotate.projects import delete_project
    from annotate.study import checks
    project, secret = study
    links.update_settings(db, project, attention_positions=[1])
    checks.mark_item(db, project, "g0", "attention", "A")
    project = get_project(db, project.name)
    person = participants.enter(db, project, secret, PROLIFIC)
    item = flow.next_study_item(db, project, person.annotator_id)
    assert item.assignment.external_id == "g0"
    flow.submit(db, project, person.annotator_id, item.assignment.item_id, {"overall": 1})
    delete_project(db, project.name, project.name)
    cur = storage.cursor(db)
    for table in ("study_links", "study_participants", "study_check_items", "study_check_answers"):
        assert cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    assert cur.execute("SELECT count(*) FROM annotators WHERE kind = 'participant'").fetchone()[0] == 0


def test_the_cap_holds_when_ten_new_participants_arrive_at_once(db, study):
    import threading
    project, secret = study
    project = links.update_settings(db, project, max_participants=5)
    admitted, refused = [], []
    barrier = threading.Barrier(10)

    def arrive(number: int) -> None:
        barrier.wait()
        try:
            admitted.append(participants.enter(db, project, secret, {"pid": f"crowd{number}"}).annotator_id)
        except StudyFullError:
            refused.append(number)

    threads = [threading.Thread(target=arrive, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert (len(admitted), len(refused), len(set(admitted))) == (5, 5, 5)
