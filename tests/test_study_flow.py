"""A participant's way through a study: training with feedback, attention checks, stops, quota, codes, k."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

import storage
from annotate.clock import utc_now
from annotate.errors import LabelError
from annotate.labeling import assignment
from annotate.projects import get_project
from annotate.study import checks, flow, links, participants, reports
from annotate.study.errors import StudyError
from annotate.study.settings import StudySettings
from study_fixtures import expected_on_screen, make_study_project, mark_checks, wrong_on_screen

pytestmark = pytest.mark.both_backends


def _enter(conn, project, pid: str):
    secret = getattr(project, "_secret", None)
    return participants.enter(conn, project, secret, {"PROLIFIC_PID": pid})


def _study(conn, tmp_path, training=3, attention=6, **settings):
    project = make_study_project(conn, tmp_path, **settings)
    mark_checks(conn, project, training=training, attention=attention)
    project = get_project(conn, project.name)
    secret = links.open_link(conn, project)
    return project, secret


def _is_check(conn, project, item) -> bool:
    """Whether a served item is a check or training item."""
    return item.assignment.item_id in checks.check_item_ids(conn, project)


def _answer(conn, project, item, right: bool = True) -> dict:
    if item.assignment.item_id not in checks.check_item_ids(conn, project):
        return {"overall": 1}
    expected = expected_on_screen(project, item.assignment, conn)
    return expected if right else wrong_on_screen(expected)


def _run(conn, project, annotator_id, right=lambda item: True, now=None):
    """Answer every item served until the study ends; return the items served."""
    served = []
    while (item := flow.next_study_item(conn, project, annotator_id, now=now)) is not None:
        served.append(item)
        flow.submit(conn, project, annotator_id, item.assignment.item_id, _answer(conn, project, item, right(item)),
                    now=now)
    return served


def test_training_items_come_first_with_the_expected_answer_and_explanation(db, tmp_path):
    project, secret = _study(db, tmp_path, training_items=3)
    person = participants.enter(db, project, secret, {"pid": "p1"})
    item = flow.next_study_item(db, project, person.annotator_id)
    assert item.is_training and (item.number, item.of) == (1, 3) and item.assignment.external_id == "g0"
    right = expected_on_screen(project, item.assignment, db)
    result = flow.submit(db, project, person.annotator_id, item.assignment.item_id, wrong_on_screen(right))
    feedback = result.feedback
    assert feedback is not None and not feedback.is_correct
    assert feedback.expected_values == right and feedback.explanation == "Look at the facts."
    # g0's gold answer is A; the feedback names the response as the screen showed it
    assert feedback.expected == ("response A is better" if item.assignment.presented_order == "AB"
                                 else "response B is better")
    second = flow.next_study_item(db, project, person.annotator_id)
    assert second.is_training and second.number == 2 and second.assignment.external_id == "g1"


def test_under_the_training_pass_mark_ends_with_the_qualification_code(db, tmp_path):
    project, secret = _study(db, tmp_path, training_items=3, training_pass=0.6)
    person = participants.enter(db, project, secret, {"pid": "p1"})
    served = _run(db, project, person.annotator_id, right=lambda item: item.assignment.external_id == "g0")
    assert [s.assignment.external_id for s in served] == ["g0", "g1", "g2"]  # 1 of 3 right: 0.33 < 0.6
    after = participants.participant_of(db, person.annotator_id)
    assert after.status == "failed_qualification" and after.completion_code == "QUAL1"
    assert after.redirect_url == "https://app.prolific.com/submissions/complete?cc=QUAL1"
    assert "practice part" in after.message and "QUAL1" in after.message
    with pytest.raises(StudyError, match="practice"):
        flow.submit(db, project, person.annotator_id, served[0].assignment.item_id, {"overall": 1})


def test_passing_training_leads_to_the_main_phase_until_the_quota_then_the_code(db, tmp_path):
    project, secret = _study(db, tmp_path, training_items=3, training_pass=0.6, quota=5)
    person = participants.enter(db, project, secret, {"pid": "p1"})
    before = utc_now()
    served = _run(db, project, person.annotator_id)
    main = [s for s in served if not s.is_training]
    assert len(served) == 3 + 5 and [s.number for s in main] == [1, 2, 3, 4, 5] and {s.of for s in main} == {5}
    after = participants.participant_of(db, person.annotator_id)
    assert after.status == "completed" and after.completion_code == "C0MPLETE" and "C0MPLETE" in after.message
    assert after.redirect_url == "https://app.prolific.com/submissions/complete?cc=C0MPLETE"
    row = participants.find_participant(db, project, "p1")
    assert before <= row["code_issued_at"] <= utc_now()
    assert flow.next_study_item(db, project, person.annotator_id) is None


def test_attention_checks_sit_at_the_configured_positions_and_look_like_real_items(db, tmp_path):
    project, secret = _study(db, tmp_path, training=0, quota=8, attention_positions=[2, 6])
    person = participants.enter(db, project, secret, {"pid": "p1"})
    served = _run(db, project, person.annotator_id)
    assert [_is_check(db, project, s) for s in served] == [False, True, False, False, False, True, False, False]
    check, real = served[1], served[0]
    assert type(check) is type(real) and not check.is_training and check.of == real.of == 8
    assert check.assignment.presented_order == assignment.presented_order(person.annotator_id, check.assignment.item_id)
    assert set(vars(check.assignment)) == set(vars(real.assignment))


def test_the_attention_rate_puts_one_check_in_each_block_at_a_place_that_differs_between_people():
    settings = StudySettings(quota=40, attention_rate=0.2, attention_first_after=5)
    places = {}
    for person in range(1, 30):
        slots = [p for p in range(40) if flow.is_attention_slot(settings, person, p)]
        assert len(slots) == 7 and min(slots) >= 5  # blocks of 5 after the first 5 positions
        assert all(5 + 5 * b <= s < 10 + 5 * b for b, s in enumerate(slots))
        places[person] = tuple(slots)
    assert len(set(places.values())) > 10


def test_failing_more_attention_checks_than_allowed_stops_and_excludes_the_participant(db, tmp_path):
    project, secret = _study(db, tmp_path, training=0, quota=10, attention_positions=[1, 3, 5, 7],
                             max_attention_failures=1)
    person = participants.enter(db, project, secret, {"pid": "p1"})
    served = _run(db, project, person.annotator_id, right=lambda item: False)
    assert [_is_check(db, project, s) for s in served] == [True, False, True]  # stopped at the second failure
    after = participants.participant_of(db, person.annotator_id)
    assert after.status == "stopped_attention" and after.is_excluded and after.completion_code is None
    assert "Thank you for your time" in after.message
    assert reports.excluded_annotator_ids(db, project) == [person.annotator_id]
    reason = reports.excluded_participants(db, project)["exclusion_reason"].iloc[0]
    assert reason == "failed 2 of 2 attention checks (more than 1 allowed)"
    answers = reports.check_answers(db, project)
    assert list(answers["passed"]) == [False, False] and set(answers["kind"]) == {"attention"}


def test_attention_failures_within_the_limit_are_recorded_and_the_study_goes_on(db, tmp_path):
    project, secret = _study(db, tmp_path, training=0, quota=6, attention_positions=[1, 4],
                             max_attention_failures=1)
    person = participants.enter(db, project, secret, {"pid": "p1"})
    served = _run(db, project, person.annotator_id, right=lambda item: item.number != 1)
    assert len(served) == 6 and participants.participant_of(db, person.annotator_id).status == "completed"
    table = reports.participants_table(db, project)
    assert table.loc[0, ["attention_checks", "attention_failed", "items_done"]].tolist() == [2, 1, 6]


def test_check_and_training_answers_never_count_toward_k_nor_appear_as_labels(db, tmp_path):
    project, secret = _study(db, tmp_path, training_items=3, quota=4, attention_positions=[1])
    person = participants.enter(db, project, secret, {"pid": "p1"})
    served = _run(db, project, person.annotator_id)
    check_ids = checks.check_item_ids(db, project)
    cur = storage.cursor(db)
    labeled = {r[0] for r in cur.execute("SELECT item_id FROM current_label_events WHERE annotator_id = ?",
                                         [person.annotator_id]).fetchall()}
    assert len(labeled) == 3 and not labeled & check_ids
    toward_k = dict(cur.execute("SELECT item_id, n FROM labels_toward_k WHERE project_id = ?", [project.id]).fetchall())
    gold_only = {i: toward_k.get(i, 0) for i in check_ids}
    assert all(n == 1 for n in gold_only.values())  # the gold rater's label only
    assert sum(1 for s in served if _is_check(db, project, s)) == 4 and len(reports.check_answers(db, project)) == 4


def test_check_items_are_never_served_as_real_items_to_participants(db, tmp_path):
    project, secret = _study(db, tmp_path, training=3, attention=9, n_items=4, quota=30, overlap=1)
    person = participants.enter(db, project, secret, {"pid": "p1"})
    served = _run(db, project, person.annotator_id)
    real = [s.assignment.external_id for s in served if not _is_check(db, project, s)]
    assert sorted(real) == ["r0", "r1", "r2", "r3"]
    # the queue ran out after 4 real items: the participant who did work still gets their code
    assert participants.participant_of(db, person.annotator_id).status == "completed"


def test_an_item_not_on_the_participants_screen_is_refused(db, tmp_path):
    project, secret = _study(db, tmp_path, training_items=3)
    person = participants.enter(db, project, secret, {"pid": "p1"})
    flow.next_study_item(db, project, person.annotator_id)
    other_check = checks.check_items(db, project, "attention")["item_id"].iloc[0]
    with pytest.raises(LabelError, match="no longer on your screen"):
        flow.submit(db, project, person.annotator_id, int(other_check), {"overall": 1})
    with pytest.raises(LabelError, match="not on the scale"):
        item = flow.next_study_item(db, project, person.annotator_id)
        flow.submit(db, project, person.annotator_id, item.assignment.item_id, {"overall": 7})


def test_labels_faster_than_the_minimum_are_marked_and_counted_not_hidden(db, tmp_path):
    project, secret = _study(db, tmp_path, training=0, attention=0, quota=4, min_seconds=5)
    person = participants.enter(db, project, secret, {"pid": "p1"})
    start = utc_now()
    for step, seconds in enumerate([2, 8, 1, 30]):
        shown = start + timedelta(minutes=step)
        item = flow.next_study_item(db, project, person.annotator_id, now=shown)
        flow.submit(db, project, person.annotator_id, item.assignment.item_id, {"overall": -1},
                    now=shown + timedelta(seconds=seconds))
    fast = reports.fast_labels(db, project)
    assert sorted(fast["seconds"].round().tolist()) == [1.0, 2.0]
    assert reports.participants_table(db, project).loc[0, "fast_labels"] == 2
    status = reports.study_status(db, project)
    assert status["fast_labels"] == 2 and status["median_seconds_per_item"] == pytest.approx(5.0)
    labels = storage.cursor(db).execute("SELECT count(*) FROM current_label_events WHERE annotator_id = ?",
                                        [person.annotator_id]).fetchone()[0]
    assert labels == 4  # marked, never hidden


def test_excluding_a_participant_reopens_their_items_and_is_reversible(db, tmp_path):
    project, secret = _study(db, tmp_path, training=0, attention=0, n_items=3, quota=3, overlap=1)
    first = participants.enter(db, project, secret, {"pid": "first"})
    _run(db, project, first.annotator_id)
    second = participants.enter(db, project, secret, {"pid": "second"})
    assert flow.next_study_item(db, project, second.annotator_id) is None  # every item has its k = 1
    participants.set_excluded(db, project, first.annotator_id, True, "answered at random")
    assert flow.next_study_item(db, project, second.annotator_id) is not None
    assert reports.excluded_annotator_ids(db, project) == [first.annotator_id]
    participants.set_excluded(db, project, first.annotator_id, False)
    assert reports.excluded_annotator_ids(db, project) == []
    assert participants.participant_of(db, first.annotator_id).status == "completed"
    with pytest.raises(StudyError, match="needs a reason"):
        participants.set_excluded(db, project, first.annotator_id, True, " ")


def test_excluding_an_active_participant_stops_serving_them_until_included_again(db, tmp_path):
    project, secret = _study(db, tmp_path, training=0, attention=0)
    person = participants.enter(db, project, secret, {"pid": "p1"})
    participants.set_excluded(db, project, person.annotator_id, True, "duplicate account")
    assert flow.next_study_item(db, project, person.annotator_id) is None
    assert "ended this study" in participants.participant_of(db, person.annotator_id).message
    participants.set_excluded(db, project, person.annotator_id, False)
    assert flow.next_study_item(db, project, person.annotator_id) is not None


def test_ten_concurrent_participants_keep_k_exact(db, tmp_path):
    project, secret = _study(db, tmp_path, training=2, attention=6, n_items=20, overlap=3, quota=8,
                             attention_rate=0.25)
    people = [participants.enter(db, project, secret, {"PROLIFIC_PID": f"worker{i:02d}"}) for i in range(10)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(10)

    def work(person) -> None:
        try:
            barrier.wait()
            _run(db, project, person.annotator_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    cur = storage.cursor(db)
    counts = dict(cur.execute("""SELECT i.external_id, count(*) FROM current_label_events e
                                 JOIN items i ON i.id = e.item_id JOIN annotators a ON a.id = e.annotator_id
                                 WHERE e.project_id = ? AND a.kind = 'participant' GROUP BY 1""",
                              [project.id]).fetchall())
    check_names = set(checks.check_items(db, project)["external_id"])
    assert not check_names & set(counts)
    toward_k = [n for _, n in cur.execute("SELECT item_id, n FROM labels_toward_k WHERE project_id = ?",
                                          [project.id]).fetchall()]
    assert max(toward_k) == 3  # gold labels count too: never above k
    status = reports.study_status(db, project)
    # 20 real items x k=3 = 60 places; 10 people x 8 items with ~2 checks each leave fewer than 60 labels
    assert status["participants"]["completed"] == 10
    assert status["items_labeled"] == sum(counts.values())
    duplicates = cur.execute("""SELECT count(*) FROM (SELECT annotator_id, item_id FROM label_events
                                WHERE project_id = ? AND kind = 'label' GROUP BY 1, 2 HAVING count(*) > 1) d""",
                             [project.id]).fetchone()[0]
    assert duplicates == 0


def test_ten_concurrent_participants_fill_every_item_to_exactly_k_when_the_queue_runs_out(db, tmp_path):
    project, secret = _study(db, tmp_path, training=0, attention=0, n_items=6, overlap=2, quota=30)
    people = [participants.enter(db, project, secret, {"pid": f"w{i}"}) for i in range(10)]
    barrier = threading.Barrier(10)
    errors: list[BaseException] = []

    def work(person) -> None:
        try:
            barrier.wait()
            _run(db, project, person.annotator_id)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    counts = storage.cursor(db).execute("SELECT item_id, n FROM labels_toward_k WHERE project_id = ?",
                                        [project.id]).fetchall()
    # 6 real items and 12 gold items (their gold label counts toward k, as for any imported label)
    assert sorted(n for _, n in counts) == [2] * 18


def test_rubric_training_items_are_scored_within_the_tolerance_and_explained(db):
    from annotate.data.demo import RUBRIC_PROJECT, create_demo
    create_demo(db)
    project = get_project(db, RUBRIC_PROJECT)
    checks.mark_item(db, project, "rb-01", "training", {"1": {"helpfulness": 4, "correctness": 5}},
                     explanation="The first response answers the question fully.")
    checks.mark_item(db, project, "rb-02", "training", '{"1": {"helpfulness": 1}}')
    project = links.update_settings(db, project, quota=1, completion_code="RUB", training_items=2,
                                    training_pass=1.0, qualification_code="RUBQ", check_tolerance=1)
    secret = links.open_link(db, project)
    person = participants.enter(db, project, secret, {"pid": "r1"})
    criteria = [c.name for c in project.config.criteria]

    def scores(item, first: dict) -> dict:
        return {idx: {c: first.get(c, 3) if idx == 0 else 3 for c in criteria}
                for idx in range(len(item.assignment.responses))}

    item = flow.next_study_item(db, project, person.annotator_id)
    assert item.is_training and item.assignment.external_id == "rb-01" and item.assignment.presented_order is None
    result = flow.submit(db, project, person.annotator_id, item.assignment.item_id,
                         scores(item, {"helpfulness": 3, "correctness": 5}))  # one point off: within tolerance
    assert result.feedback.is_correct and result.feedback.explanation.startswith("The first response")
    assert result.feedback.expected_values == {0: {"helpfulness": 4, "correctness": 5}}
    item = flow.next_study_item(db, project, person.annotator_id)
    result = flow.submit(db, project, person.annotator_id, item.assignment.item_id, scores(item, {"helpfulness": 3}))
    assert not result.feedback.is_correct  # two points off
    assert result.participant.status == "failed_qualification" and result.participant.completion_code == "RUBQ"


def test_check_answers_off_the_scale_are_refused_like_labels(db, tmp_path):
    with pytest.raises(StudyError, match="not on the scale"):
        checks.parse_answer(make_study_project(db, tmp_path), "5")
