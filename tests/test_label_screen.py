"""The label screen's logic without a browser: forms and nonces, actions, highlighting, item text.

The browser tests (tests/test_label_screen_browser.py) drive the same code through the keys.
"""
from __future__ import annotations

import json
import re

import pytest

import storage
from annotate.config import Criterion, ProjectConfig
from annotate.labeling import assignment, forms, screen
from annotate.labeling.annotators import add_annotator
from annotate.labeling.item_text import ImagePolicy, item_markdown
from annotate.labeling.textdiff import MOSTLY_DIFFERENT_NOTE, highlight_differences
from annotate.projects import create_project

pytestmark = pytest.mark.both_backends


def make_project(db, tmp_path, n: int = 3, **config):
    from annotate.data.adapters import import_items
    from annotate.projects import get_project
    rows = [{"id": f"81-alpaca-13b-gpt-4-t{i}", "prompt": f"Question {i}?", "response_a": f"left {i}",
             "response_b": f"right {i}"} for i in range(n)]

    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    create_project(db, "screen", ProjectConfig(task_type="pairwise", overlap=2, **config))
    import_items(db, "screen", path)
    return get_project(db, "screen")


@pytest.fixture
def setup(db, tmp_path):
    project = make_project(db, tmp_path)
    ann_id = _add(db, "ann")
    return project, ann_id


def _add(db, name: str) -> int:
    return add_annotator(db, name)[0]["id"]


def submit_message(form: forms.Form, value: int, **extra) -> dict:
    return {"type": "submit", "nonce": form.nonce, "item_id": form.item_id, "values": {"overall": value}, **extra}


def labels_of(db, project) -> list[tuple[int, float]]:
    frame = storage.labels.current_label_values(storage.cursor(db), project.id)
    return list(zip(frame["item_id"], frame["value"]))


def test_a_submit_stores_the_label_on_the_item_of_its_form_and_says_which_item_of_the_history(db, setup):
    project, ann = setup
    state: dict = {}
    item = assignment.next_item(db, project, ann)
    form = forms.show_form(state, item.item_id)
    outcome = screen.handle_action(db, project, ann, state, submit_message(form, -2, confidence=4))
    assert outcome.kind == "saved" and outcome.message == "Saved item 1 of your history."
    sign = 1 if item.presented_order == "AB" else -1
    assert labels_of(db, project) == [(item.item_id, -2.0 * sign)]


def test_a_repeated_submit_of_the_same_form_is_refused_as_a_duplicate_and_stores_nothing(db, setup):
    project, ann = setup
    state: dict = {}
    form = forms.show_form(state, assignment.next_item(db, project, ann).item_id)
    message = submit_message(form, 1)
    assert screen.handle_action(db, project, ann, state, message).kind == "saved"
    forms.show_form(state, assignment.next_item(db, project, ann).item_id)  # the next item is on screen
    repeat = screen.handle_action(db, project, ann, state, message)
    assert repeat.is_refused and repeat.message == forms.DUPLICATE_MESSAGE
    assert len(labels_of(db, project)) == 1


def test_a_submit_for_an_item_no_longer_on_screen_is_refused_with_a_message(db, setup):
    project, ann = setup
    state: dict = {}
    first = forms.show_form(state, assignment.next_item(db, project, ann).item_id)
    assignment.skip_item(db, project, ann, first.item_id, "cannot judge")  # e.g. from another tab
    second = forms.show_form(state, assignment.next_item(db, project, ann).item_id)
    assert second.nonce != first.nonce
    stale = screen.handle_action(db, project, ann, state, submit_message(first, 2))
    assert stale.is_refused and stale.message == forms.STALE_MESSAGE
    forged = screen.handle_action(db, project, ann, state, {**submit_message(second, 2), "item_id": first.item_id})
    assert forged.is_refused
    assert labels_of(db, project) == []


def test_the_same_item_keeps_its_form_across_redraws_and_a_new_item_gets_a_new_one(db, setup):
    project, ann = setup
    state: dict = {}
    item = assignment.next_item(db, project, ann)
    form = forms.show_form(state, item.item_id)
    assert forms.show_form(state, item.item_id) == form  # e.g. toggling the highlighting
    screen.handle_action(db, project, ann, state, submit_message(form, 0))
    assert forms.show_form(state, assignment.next_item(db, project, ann).item_id).nonce != form.nonce


def test_a_refused_label_keeps_the_form_open_so_the_annotator_can_correct_it(db, tmp_path):
    project = make_project(db, tmp_path, justification="required", justification_min_chars=10)
    ann = _add(db, "ann")
    state: dict = {}
    form = forms.show_form(state, assignment.next_item(db, project, ann).item_id)
    short = screen.handle_action(db, project, ann, state, submit_message(form, 1, justification="short"))
    assert short.is_refused and "at least 10 characters" in short.message
    fixed = screen.handle_action(db, project, ann, state, submit_message(form, 1, justification="long enough now"))
    assert fixed.kind == "saved"


def test_skip_flag_and_edit_go_through_the_form_and_the_edit_names_the_history_ordinal(db, setup):
    project, ann = setup
    state: dict = {}
    form = forms.show_form(state, assignment.next_item(db, project, ann).item_id)
    flagged = screen.handle_action(db, project, ann, state, {"type": "flag", "nonce": form.nonce,
                                                              "item_id": form.item_id, "note": "typo"})
    assert flagged.kind == "flagged" and forms.show_form(state, form.item_id) == form  # still on screen
    screen.handle_action(db, project, ann, state, submit_message(form, 1))
    event_id = int(assignment.history(db, project, ann)["event_id"].iloc[0])
    edit = forms.show_form(state, form.item_id, event_id)
    outcome = screen.handle_action(db, project, ann, state, {**submit_message(edit, -1)})
    assert outcome.kind == "updated" and outcome.message == "Updated item 1 of your history."
    skip_form = forms.show_form(state, assignment.next_item(db, project, ann).item_id)
    skipped = screen.handle_action(db, project, ann, state, {"type": "skip", "nonce": skip_form.nonce,
                                                              "item_id": skip_form.item_id, "note": "unsure"})
    assert skipped.kind == "skipped"
    events = storage.labels.label_events_frame(storage.cursor(db), project.id)
    assert events["kind"].tolist() == ["flag", "label", "label", "skip"]


def test_history_names_items_by_ordinal_never_by_the_dataset_id(db, setup):
    project, ann = setup
    for _ in range(2):
        item = assignment.next_item(db, project, ann)
        assignment.submit_label(db, project, ann, item.item_id, {"overall": 1})
    history = assignment.history(db, project, ann)
    assert history["ordinal"].tolist() == [2, 1]
    assert "alpaca" not in history.to_csv() and "gpt-4" not in history.to_csv()


def test_controls_data_carries_no_dataset_id_or_model_name(db, setup):
    project, ann = setup
    item = assignment.next_item(db, project, ann)
    data = screen.controls_data(project, item, forms.show_form({}, item.item_id), rev=0, diff_on=False)
    assert "alpaca" not in json.dumps(data) and data["item_id"] == item.item_id
    assert [o["digit"] for o in data["rows"][0]["options"]] == ["1", "2", "3", "4", "5"]


def test_rubric_rows_use_the_scores_as_digits_and_come_back_as_scores_per_response(db, tmp_path):
    criteria = [Criterion(name="accuracy", scores={1: "Wrong", 2: "Partly", 3: "Right"}),
                Criterion(name="style", scores={0: "Bad", 1: "Fine"})]
    project = create_project(db, "rub", ProjectConfig(task_type="rubric", criteria=criteria))
    item = assignment.Assignment(1, "x", "p", None, None, ["one", "two"], None, None)
    data = screen.controls_data(project, item, forms.Form("n", 1), rev=0, diff_on=False)
    assert [r["key"] for r in data["rows"]] == ["0:accuracy", "0:style", "1:accuracy", "1:style"]
    assert [o["digit"] for o in data["rows"][1]["options"]] == ["0", "1"]
    values = screen.screen_values(project, {"0:accuracy": 3, "0:style": 0, "1:accuracy": 1, "1:style": 1})
    assert values == {0: {"accuracy": 3, "style": 0}, 1: {"accuracy": 1, "style": 1}}


def test_highlighting_keeps_code_blocks_as_code_and_marks_changed_lines():
    a = "Use this:\n\n```python\nx = 1\nprint(x)\n```\n\nIt prints **one** value."
    b = "Use this:\n\n```python\nx = 2\nprint(x)\n```\n\nIt prints **two** values."
    result = highlight_differences(a, b)
    assert "```diff\n+ x = 1\n  print(x)\n```" in result.left
    assert "```diff\n+ x = 2\n  print(x)\n```" in result.right
    assert "It prints :orange-background[**two** values.]" in result.right  # one span for a run of words
    assert "orange" not in result.left.split("```")[0]  # unchanged prose before the block stays plain


def test_highlighting_leaves_list_markers_and_headings_intact():
    a = "# Steps\n\n- open the box\n- take it out\n"
    b = "# Steps\n\n- open the lid\n- take it out\n"
    result = highlight_differences(a, b)
    assert result.left == "# Steps\n\n- open the :orange-background[box]\n- take it out\n"
    assert result.right == "# Steps\n\n- open the :orange-background[lid]\n- take it out\n"


def test_answers_that_differ_almost_everywhere_are_not_painted_but_said_to_differ():
    result = highlight_differences("It is 2.", "The sum of one and one is two, because doubling works.")
    assert result.note == MOSTLY_DIFFERENT_NOTE and "orange" not in result.left + result.right


def test_highlighting_two_huge_responses_does_not_compare_words():
    a = "word " * 300_000 + "\nsame last line\n"
    b = "other " * 300_000 + "\nsame last line\n"
    result = highlight_differences(a, b)  # a word diff here would be quadratic in 600K tokens
    assert result.note and "orange" not in result.left


def test_remote_images_in_item_text_become_links_unless_the_host_is_allowed():
    text = "See ![a cat](https://tracker.example/cat.png?u=1) and ![ref][1]\n\n[1]: https://tracker.example/x.png"
    safe = item_markdown(text)
    assert "![" not in safe.replace("\\![", "")
    assert "[image: a cat (not loaded)](https://tracker.example/cat.png?u=1)" in safe
    assert "\\![ref][1]" in safe  # a reference image renders as a plain link
    allowed = item_markdown(text, ImagePolicy(frozenset({"tracker.example"})))
    assert "![a cat](https://tracker.example/cat.png?u=1)" in allowed


def test_data_uri_and_local_images_are_shown_only_when_the_project_enables_them():
    text = "![dot](data:image/png;base64,iVBORw0KGgo=) ![logo](/static/logo.png) `![code](x.png)`"
    assert "![dot]" not in item_markdown(text) and "![logo]" not in item_markdown(text)
    assert "`![code](x.png)`" in item_markdown(text)  # code is never rendered as an image
    embedded = item_markdown(text, ImagePolicy(allow_embedded=True))
    assert "![dot](data:image/png;base64,iVBORw0KGgo=)" in embedded and "![logo](/static/logo.png)" in embedded
    assert not re.search(r"(?<!\\)!\[", item_markdown("![x](javascript:alert(1))", ImagePolicy(allow_embedded=True)))


def test_highlighting_every_pandalm_pair_keeps_code_fences_and_directives_balanced(pandalm_dir):
    """Real responses (code, lists, numbers): the highlighted markdown opens as many code fences
    as it closes, and every highlight directive is closed; some pairs are painted, some said to differ."""
    pairs = json.loads((pandalm_dir / "testset-v1.json").read_text())
    painted = said = 0
    for pair in pairs:
        result = highlight_differences(str(pair["response1"]), str(pair["response2"]))
        for side in (result.left, result.right):
            fences = [line for line in side.splitlines() if line.lstrip().startswith("```")]
            assert len(fences) % 2 == 0, pair["idx"]
            assert side.count(":orange-background[") <= side.count("]"), pair["idx"]
        painted += ":orange-background[" in result.left + result.right
        said += result.note == MOSTLY_DIFFERENT_NOTE
    assert painted > 100 and said > 100 and painted + said <= len(pairs)


def test_the_same_item_submitted_from_a_second_tab_is_refused_in_words_an_annotator_understands(db, setup):
    project, ann = setup
    first_tab, second_tab = {}, {}  # each browser tab has its own session state
    item = assignment.next_item(db, project, ann)
    assert assignment.next_item(db, project, ann).item_id == item.item_id  # both tabs show the leased item
    form_1, form_2 = forms.show_form(first_tab, item.item_id), forms.show_form(second_tab, item.item_id)
    assert screen.handle_action(db, project, ann, first_tab, submit_message(form_1, 1)).kind == "saved"
    again = screen.handle_action(db, project, ann, second_tab, submit_message(form_2, -2))
    assert again.is_refused and again.message.startswith("Not saved: you already labeled this item (item 1 of")
    assert len(labels_of(db, project)) == 1
