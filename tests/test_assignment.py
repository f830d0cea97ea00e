"""Assignment: eligibility, order, leases, blind presentation, progress, history, login slow-down."""
from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta

import pandas as pd
import pytest

import storage
from annotate.clock import utc_now
from annotate.labeling import assignment, auth
from annotate.labeling.annotators import add_annotator
from annotate.config import Criterion, ProjectConfig
from annotate.errors import AuthError, LabelError
from annotate.data.importers import ColumnMapping, import_file
from annotate.projects import create_project

pytestmark = pytest.mark.both_backends


def make_pairwise(db, tmp_path, n_items: int, overlap: int = 2, name: str = "p"):
    rows = [{"id": f"q{i}", "prompt": f"Question {i}?", "response_a": f"answer a{i}",
             "response_b": f"answer b{i}", "model_a": "gpt-x", "model_b": "llama-y"} for i in range(n_items)]

    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = create_project(db, name, ProjectConfig(task_type="pairwise", overlap=overlap))
    import_file(db, project, path, mapping=ColumnMapping(model_a="model_a", model_b="model_b"))
    return project


def make_rubric(db, tmp_path, n_items: int):
    rows = [{"id": f"r{i}", "prompt": f"Task {i}", "response": f"response {i}", "reference": "gold"}
            for i in range(n_items)]
    path = tmp_path / "rubric.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    criteria = [Criterion(name="accuracy", scores={1: "bad", 2: "ok", 3: "good"})]
    project = create_project(db, "r", ProjectConfig(task_type="rubric", overlap=1, criteria=criteria))
    import_file(db, project, path, mapping=ColumnMapping(reference="reference"))
    return project


def user(db, name: str) -> int:
    return add_annotator(db, name)[0]["id"]


def test_items_are_served_least_labeled_first_and_never_twice(db, tmp_path):
    project = make_pairwise(db, tmp_path, 3)
    ann, other = user(db, "ann"), user(db, "bob")
    first = assignment.next_item(db, project, other)
    assignment.submit_label(db, project, other, first.item_id, {"overall": 1})
    served = []
    while (item := assignment.next_item(db, project, ann)) is not None:
        served.append(item.external_id)
        assignment.submit_label(db, project, ann, item.item_id, {"overall": 0})
    assert served == ["q1", "q2", "q0"]


def test_rerun_returns_the_same_leased_item(db, tmp_path):
    project = make_pairwise(db, tmp_path, 3)
    ann = user(db, "ann")
    assert assignment.next_item(db, project, ann).item_id == assignment.next_item(db, project, ann).item_id


def test_lease_holds_item_until_it_expires(db, tmp_path):
    project = make_pairwise(db, tmp_path, 1, overlap=1)
    ann, bob = user(db, "ann"), user(db, "bob")
    now = utc_now()
    assert assignment.next_item(db, project, ann, lease_seconds=60, now=now) is not None
    assert assignment.next_item(db, project, bob, now=now + timedelta(seconds=30)) is None
    assert assignment.next_item(db, project, bob, now=now + timedelta(seconds=61)) is not None


def test_expired_lease_refuses_label_once_item_is_full(db, tmp_path):
    project = make_pairwise(db, tmp_path, 1, overlap=1)
    ann, bob = user(db, "ann"), user(db, "bob")
    now = utc_now()
    item = assignment.next_item(db, project, ann, lease_seconds=60, now=now)
    later = now + timedelta(seconds=90)
    assignment.submit_label(db, project, bob, assignment.next_item(db, project, bob, now=later).item_id,
                            {"overall": 0}, now=later)
    with pytest.raises(LabelError, match="lease had expired"):
        assignment.submit_label(db, project, ann, item.item_id, {"overall": 0}, now=later)


def test_skip_removes_item_but_flag_keeps_it(db, tmp_path):
    project = make_pairwise(db, tmp_path, 2)
    ann = user(db, "ann")
    first = assignment.next_item(db, project, ann)
    assignment.flag_item(db, project, ann, first.item_id, "typo in prompt")
    assert assignment.next_item(db, project, ann).item_id == first.item_id
    assignment.skip_item(db, project, ann, first.item_id, "cannot judge")
    assert assignment.next_item(db, project, ann).item_id != first.item_id


def test_routing_decides_eligibility_and_priority(db, tmp_path):
    project = make_pairwise(db, tmp_path, 3)
    ann = user(db, "ann")
    cur = storage.cursor(db)
    item_ids = dict(cur.execute("SELECT external_id, id FROM items WHERE project_id = ?", [project.id]).fetchall())
    decisions = pd.DataFrame({"project_id": project.id, "item_id": [item_ids["q0"], item_ids["q1"], item_ids["q1"],
                                                                     item_ids["q2"]],
                              "route": ["ai", "ai", "human", "human"], "priority": [9.0, 9.0, 1.0, 5.0]})
    cur.executemany("""INSERT INTO routing_decisions (project_id, item_id, route, priority, strategy)
                       VALUES (?, ?, ?, ?, 'test')""", decisions.itertuples(index=False, name=None))
    served = []
    while (item := assignment.next_item(db, project, ann)) is not None:
        served.append(item.external_id)
        assignment.skip_item(db, project, ann, item.item_id, "test")
    assert served == ["q2", "q1"]


def test_presented_order_is_stable_and_labels_are_stored_canonically(db, tmp_path):
    project = make_pairwise(db, tmp_path, 20)
    ann = user(db, "ann")
    orders = set()
    while (item := assignment.next_item(db, project, ann)) is not None:
        assert item.presented_order == assignment.presented_order(ann, item.item_id)
        left = item.responses[0]
        assert left.startswith("answer a" if item.presented_order == "AB" else "answer b")
        event_id = assignment.submit_label(db, project, ann, item.item_id, {"overall": -2})  # left much better
        stored = storage.labels.get_event(storage.cursor(db), event_id)
        assert stored["presented_order"] == item.presented_order
        assert stored["values"] == [("overall", None, -2.0 if item.presented_order == "AB" else 2.0)]
        assert stored["seconds"] is not None and stored["seconds"] >= 0
        orders.add(item.presented_order)
    assert orders == {"AB", "BA"}


def test_served_item_names_no_model(db, tmp_path):
    project = make_pairwise(db, tmp_path, 1)
    item = assignment.next_item(db, project, user(db, "ann"))
    assert "gpt-x" not in repr(item) and "llama-y" not in repr(item)


def test_edit_from_history_supersedes_and_keeps_old_event(db, tmp_path):
    project = make_pairwise(db, tmp_path, 2)
    ann = user(db, "ann")
    item = assignment.next_item(db, project, ann)
    old = assignment.submit_label(db, project, ann, item.item_id, {"overall": -1})
    row = assignment.history(db, project, ann).iloc[0]
    assert row["event_id"] == old and row["label"] == "overall: A is slightly better"
    loaded = assignment.load_for_edit(db, project, ann, old)
    assert loaded.previous["values"] == {"overall": -1} and loaded.responses == item.responses
    new = assignment.edit_from_history(db, project, ann, old, {"overall": 2}, seconds=3.0)
    assert assignment.history(db, project, ann)["label"].tolist() == ["overall: B is much better"]
    events = storage.labels.label_events_frame(storage.cursor(db), project.id)
    assert events["event_id"].tolist() == [old, new] and events["supersedes"].iloc[1] == old


def test_rubric_label_and_progress(db, tmp_path):
    project = make_rubric(db, tmp_path, 3)
    ann = user(db, "ann")
    assert assignment.progress(db, project, ann) == {"done": 0, "today": 0, "assigned": 3}
    item = assignment.next_item(db, project, ann)
    assert item.presented_order is None and item.reference == "gold"
    assignment.submit_label(db, project, ann, item.item_id, {0: {"accuracy": 3}})
    assert assignment.progress(db, project, ann) == {"done": 1, "today": 1, "assigned": 3}
    assert assignment.history(db, project, ann)["label"].tolist() == ["response 1: accuracy 3"]


def test_twenty_concurrent_annotators_fill_every_item_exactly_k_times(db, tmp_path):
    project = make_pairwise(db, tmp_path, 100, overlap=3)
    ids = [user(db, f"a{i}") for i in range(20)]
    errors = []

    def work(annotator_id: int) -> None:
        try:
            while (item := assignment.next_item(db, project, annotator_id)) is not None:
                assignment.submit_label(db, project, annotator_id, item.item_id, {"overall": 1})
        except Exception as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    labels = storage.labels.current_label_values(storage.cursor(db), project.id)
    assert Counter(Counter(labels["item_id"]).values()) == {3: 100}
    assert not labels.duplicated(["item_id", "annotator_id"]).any()


def test_login_slows_down_repeated_failures(db):
    _, token = add_annotator(db, "ann")
    now = utc_now()
    for _ in range(auth.FREE_FAILURES):
        with pytest.raises(AuthError, match="not valid"):
            auth.login(db, "wrong", "1.2.3.4", now=now)
    with pytest.raises(auth.TooManyAttemptsError, match="try again in"):
        auth.login(db, token, "1.2.3.4", now=now)
    assert auth.login(db, token, "5.6.7.8", now=now)["name"] == "ann"
    assert auth.login(db, token, "1.2.3.4", now=now + timedelta(seconds=2))["name"] == "ann"


def test_labels_written_elsewhere_are_seen_by_the_queue(db, tmp_path):
    from annotate.labeling.labels import record_label
    project = make_pairwise(db, tmp_path, 2, overlap=1)
    ann, bob = user(db, "ann"), user(db, "bob")
    first = assignment.next_item(db, project, ann)  # builds the in-memory queue
    other = storage.items.item_id_for(storage.cursor(db), project.id, "q1")
    record_label(db, project, bob, other, {"overall": 0})  # not through assignment
    assignment.skip_item(db, project, ann, first.item_id, "cannot judge")
    assert assignment.next_item(db, project, ann) is None


def test_another_servers_labels_are_caught_up_without_rebuilding_the_queue(db, db_path, tmp_path):
    from annotate.labeling.queue import cached_queue
    project = make_pairwise(db, tmp_path, 4, overlap=1)
    ann, bob = user(db, "ann"), user(db, "bob")
    first = assignment.next_item(db, project, ann)
    queue = cached_queue(db, project.id)
    other_server = storage.connect(db_path)  # its own connection and its own in-memory queue
    try:
        taken = assignment.next_item(other_server, project, bob)
        assignment.submit_label(other_server, project, bob, taken.item_id, {"overall": 1})
    finally:
        other_server.close()
    assignment.submit_label(db, project, ann, first.item_id, {"overall": -1})
    served = assignment.next_item(db, project, ann)
    assert served.item_id not in {first.item_id, taken.item_id}
    assert cached_queue(db, project.id) is queue  # caught up from the new events, not rebuilt
    assert int(queue.n_done.sum()) == 2 and queue.has_seen(bob, taken.item_id)


def test_labels_from_an_import_rebuild_the_queue(db, tmp_path):
    from annotate.labeling.labels import record_label
    from annotate.labeling.queue import cached_queue
    project = make_pairwise(db, tmp_path, 3, overlap=1)
    ann, bob = user(db, "ann"), user(db, "bob")
    first = assignment.next_item(db, project, ann)
    queue = cached_queue(db, project.id)
    second = storage.items.item_id_for(storage.cursor(db), project.id, "q1")
    record_label(db, project, bob, second, {"overall": 0}, source="import:file.jsonl")
    assert assignment.next_item(db, project, ann).item_id == first.item_id  # the lease holds
    assert cached_queue(db, project.id) is not queue
    assert cached_queue(db, project.id).n_done.tolist() == [0, 1, 0]


def test_dollar_signs_outside_code_are_escaped_so_prices_do_not_become_latex():
    from annotate.labeling.item_text import item_markdown
    text = "It costs $5 or $10.\n```bash\necho $HOME\n```\nUse `$PATH` too, $3."
    assert item_markdown(text) == "It costs \\$5 or \\$10.\n```bash\necho $HOME\n```\nUse `$PATH` too, \\$3."


def test_editing_an_imported_label_keeps_its_meaning_whatever_order_the_screen_shows(db, tmp_path):
    """Imported labels have no presented order; the edit screen lays the item out in the
    annotator's own order, and both the prefilled and the saved values follow that layout."""
    import json as json_lib
    from annotate.data.adapters import import_items
    from annotate.labeling.assignment import edit_from_history, load_for_edit, presented_order
    from annotate.data.importers import ColumnMapping
    from annotate.projects import get_project
    from annotate.labeling.annotators import get_annotator, set_active
    rows = [{"id": f"i{i}", "prompt": "p", "response_a": f"a{i}", "response_b": f"b{i}", "alice": "A"}
            for i in range(8)]
    path = tmp_path / "imported.jsonl"
    path.write_text("\n".join(json_lib.dumps(r) for r in rows))
    import_items(db, "imp", path, mapping=ColumnMapping(human_labels={"alice": "alice"}))
    project = get_project(db, "imp")
    set_active(db, "import:alice", True)  # imported raters start inactive (and never log in)
    alice_id = get_annotator(db, "import:alice")["id"]
    events = storage.labels.label_events_frame(storage.cursor(db), project.id)
    swapped = next(e for e in events.itertuples() if presented_order(alice_id, e.item_id) == "BA")
    item = load_for_edit(db, project, alice_id, swapped.event_id)
    assert item.responses[0].startswith("b")  # B is on the left
    assert item.previous["values"] == {"overall": 1}  # canonical A better = "right is better" here
    new_id = edit_from_history(db, project, alice_id, swapped.event_id, {"overall": -1})  # left (B) better
    stored = storage.labels.get_event(storage.cursor(db), new_id)
    assert stored["values"] == [("overall", None, 1.0)] and stored["presented_order"] == "BA"
