"""Excluded participants and check answers on the consumer side of a crowd study: reports, agreement
and exports leave the excluded participants' labels out by default and say so; an option includes
them; the review page lists them and reverses the exclusion; check answers are never labels;
platform ids stay out of exports unless asked for; fast labels are marked and counted."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from annotate.analysis.report import build_report
from annotate.analysis.report_types import ReportFilters
from annotate.cli import cli
from annotate.data import export
from annotate.data.dataset_card import render_card
from annotate.errors import AnnotateError
from annotate.labeling import review
from annotate.labeling.annotators import add_annotator
from annotate.projects import get_project
from annotate.study import flow, links, participants
from annotate.study.quality import participant_quality_table
from study_fixtures import expected_on_screen, make_study_project, mark_checks, wrong_on_screen

pytestmark = pytest.mark.both_backends

PIDS = {"good1": "5f00000000000000000000a1", "good2": "5f00000000000000000000b2", "bad": "5f00000000000000000000c3"}
START = datetime(2026, 11, 30, 9, 0, 0)
NO_BOOT = ReportFilters(n_boot=0)


def run_participant(conn, project, secret: str, pid: str, *, right: bool, seconds: float = 10.0,
                    first_seconds: float | None = None) -> participants.Participant:
    """Enter with a Prolific id and answer until the study ends: every real item 'A (shown first) is
    better', each attention check right or wrong; the first real label takes `first_seconds`."""
    person = participants.enter(conn, project, secret, {"PROLIFIC_PID": pid, "STUDY_ID": "s", "SESSION_ID": pid})
    now, labeled = START, 0
    while (item := flow.next_study_item(conn, project, person.annotator_id, now=now)) is not None:
        is_check = item.assignment.item_id in set(checks_of(conn, project))
        if is_check:
            expected = expected_on_screen(project, item.assignment, conn)
            values = expected if right else wrong_on_screen(expected)
        else:
            values = {"overall": -1}
        took = first_seconds if (first_seconds is not None and not is_check and labeled == 0) else seconds
        now = now + timedelta(seconds=took)
        flow.submit(conn, project, person.annotator_id, item.assignment.item_id, values, now=now)
        labeled += not is_check
    return participants.participant_of(conn, person.annotator_id)


def checks_of(conn, project) -> list[int]:
    from annotate.study import checks
    return checks.check_items(conn, project)["item_id"].tolist()


@pytest.fixture
def crowd(db, tmp_path):
    """Three participants on a study with attention checks at positions 2 and 4, at most one failure:
    good1 and good2 pass both and label 4 real items each; bad fails both and is stopped (and
    excluded) after 2 real labels. good1's first label takes 1 s, under the 2 s minimum."""
    project = make_study_project(db, tmp_path, quota=6, attention_positions=[2, 4], max_attention_failures=1,
                                 min_seconds=2.0)
    mark_checks(db, project, training=0, attention=4)
    secret = links.open_link(db, project)
    people = {"good1": run_participant(db, project, secret, PIDS["good1"], right=True, first_seconds=1.0),
              "good2": run_participant(db, project, secret, PIDS["good2"], right=True),
              "bad": run_participant(db, project, secret, PIDS["bad"], right=False)}
    add_annotator(db, "rita", "researcher")
    return get_project(db, project.name), people


def test_the_fixture_stops_the_participant_who_failed_the_attention_checks(db, crowd):
    _, people = crowd
    assert people["good1"].status == people["good2"].status == "completed"
    assert people["bad"].status == "stopped_attention" and people["bad"].is_excluded


def test_reports_leave_excluded_participants_out_by_default_and_say_how_many(db, crowd):
    project, people = crowd
    report = build_report(db, project.name, NO_BOOT)
    assert report.overview["human_labels"] == 8  # good1 and good2: 4 real labels each
    assert people["bad"].name not in set(report.side["annotator"])
    assert people["bad"].name not in set(report.annotators["annotator"])
    assert report.exclusion["excluded_participants"] == 1 and report.exclusion["excluded_labels"] == 2
    assert f"1 participant excluded ({people['bad'].name}" in report.exclusion["statement"]
    assert "their 2 labels are left out" in report.exclusion["statement"]
    included = build_report(db, project.name, ReportFilters(n_boot=0, include_excluded=True))
    assert included.overview["human_labels"] == 10
    assert included.exclusion["include_excluded"] and "are included as asked" in included.exclusion["statement"]
    assert people["bad"].name in set(included.annotators["annotator"])


def test_check_answers_are_never_labels_in_reports_or_exports(db, crowd):
    project, people = crowd
    check_ids = set(checks_of(db, project))
    report = build_report(db, project.name, ReportFilters(n_boot=0, include_excluded=True))
    assert report.exclusion["check_answers"] == 6  # 2 + 2 passed, 2 failed: all stored apart
    assert "6 answers to attention checks and training items are not labels" in report.exclusion["statement"]
    result = export.build_export(db, project.name, "dpo", export.ExportFilters(include_excluded=True))
    checks_rows = result.final[result.final["item_id"].isin(check_ids)]
    assert len(checks_rows) and (checks_rows["n_labels"] == 0).all() and (checks_rows["source"] == "gold").all()
    events = export.build_export(db, project.name, "events", export.ExportFilters(include_excluded=True)).rows
    by_participants = events[events["annotator"].isin([p.name for p in people.values()])]
    assert not by_participants["item_id"].isin(check_ids).any() and len(by_participants) == 10


def test_exports_leave_excluded_participants_out_and_the_card_says_so(db, crowd, tmp_path):
    project, people = crowd
    default = export.build_export(db, project.name, "dpo")
    included = export.build_export(db, project.name, "dpo", export.ExportFilters(include_excluded=True))
    human = lambda result: int(result.rows.loc[result.rows["source"].isin(["human", "both"]), "n_annotators"].sum())
    assert (human(default), human(included)) == (8, 10)
    assert default.exclusion["excluded_labels"] == 2 and default.exclusion["participants"] == 3
    card = render_card(default, "dpo-jsonl")
    assert "## Study participants" in card and "Participants in the study: 3." in card
    assert "their 2 labels are left out" in card and "platform ids are not in this export" in card
    assert "are included as asked" in render_card(included, "dpo-jsonl")
    events = export.build_export(db, project.name, "events").rows
    assert people["bad"].name not in set(events["annotator"])
    assert events["annotator"].str.startswith("participant-").sum() == 8


def test_platform_ids_stay_out_of_exports_unless_asked_for(db, crowd, tmp_path):
    project, people = crowd
    for fmt in ("dpo-jsonl", "dpo-csv", "events-jsonl", "helpsteer2-csv"):
        out = tmp_path / f"plain.{fmt}"
        export.export_dataset(db, project.name, fmt, out, card=tmp_path / f"{fmt}.md")
        text = out.read_text() + (tmp_path / f"{fmt}.md").read_text()
        assert not any(pid in text for pid in PIDS.values()), fmt
    asked = export.ExportFilters(with_participant_ids=True)
    rows = export.build_export(db, project.name, "dpo", asked).rows
    labeled = rows[rows["source"].isin(["human", "both"])]
    assert set(",".join(labeled["participant_ids"]).split(",")) == {PIDS["good1"], PIDS["good2"]}
    out = tmp_path / "ids.parquet"
    export.export_dataset(db, project.name, "dpo-parquet", out, asked)
    import pandas as pd
    assert PIDS["good1"] in ",".join(pd.read_parquet(out)["participant_ids"])
    events = export.build_export(db, project.name, "events", export.ExportFilters(
        with_participant_ids=True, include_excluded=True)).rows
    assert set(events["participant_id"].dropna()) == set(PIDS.values())  # the gold rater has none


def test_export_and_agreement_cli_flags(db_path, db, crowd, tmp_path):
    project, _ = crowd
    db.close()
    runner = CliRunner()
    out = tmp_path / "cli.jsonl"
    plain = runner.invoke(cli, ["--db", str(db_path), "export", "-p", project.name, "--format", "dpo-jsonl",
                                "--out", str(out)])
    assert plain.exit_code == 0, plain.output
    assert "their 2 labels are left out" in plain.output and PIDS["good1"] not in out.read_text()
    with_ids = runner.invoke(cli, ["--db", str(db_path), "export", "-p", project.name, "--format", "dpo-jsonl",
                                   "--out", str(out), "--with-participant-ids", "--include-excluded", "--json"])
    assert with_ids.exit_code == 0, with_ids.output
    assert json.loads(with_ids.output)["exclusion"]["include_excluded"] and PIDS["bad"] in out.read_text()
    agreement = runner.invoke(cli, ["--db", str(db_path), "agreement", "-p", project.name, "--bootstrap", "0",
                                    "--json"])
    assert agreement.exit_code == 0, agreement.output
    data = json.loads(agreement.output)
    assert data["exclusion"]["excluded_labels"] == 2 and data["overview"]["human_labels"] == 8
    table = {row["annotator"]: row for row in data["participant_quality"]}
    assert len(table) == 3 and all(row["participant_id"] in PIDS.values() for row in table.values())
    included = json.loads(runner.invoke(cli, ["--db", str(db_path), "agreement", "-p", project.name, "--bootstrap",
                                              "0", "--json", "--include-excluded"]).output)
    assert included["overview"]["human_labels"] == 10


def test_review_page_action_reverses_and_restores_the_exclusion(db, crowd):
    project, people = crowd
    bad = people["bad"].name
    listed = review.study_participants(db, project.name).set_index("participant")
    assert listed.index[0] == bad and listed.loc[bad, "is_excluded"]
    assert "failed 2 of 2 attention checks" in listed.loc[bad, "reason"]
    assert listed.loc[bad, ["attention_failed", "attention_checks"]].tolist() == [2, 2]
    review.set_participant_exclusion(db, project.name, bad, "rita", False)
    assert not review.study_participants(db, project.name).set_index("participant").loc[bad, "is_excluded"]
    assert build_report(db, project.name, NO_BOOT).overview["human_labels"] == 10
    assert build_report(db, project.name, NO_BOOT).exclusion["excluded_participants"] == 0
    review.set_participant_exclusion(db, project.name, people["good2"].name, "rita", True, "answers in 1 s")
    listed = review.study_participants(db, project.name).set_index("participant")
    assert listed.loc[people["good2"].name, "reason"] == "answers in 1 s (excluded by rita)"
    assert build_report(db, project.name, NO_BOOT).overview["human_labels"] == 6
    with pytest.raises(AnnotateError, match="needs a reason"):
        review.set_participant_exclusion(db, project.name, bad, "rita", True, "  ")
    add_annotator(db, "ann", "annotator")
    with pytest.raises(AnnotateError, match="not an active researcher"):
        review.set_participant_exclusion(db, project.name, bad, "ann", False)


def test_quality_table_of_the_study_counts_checks_fast_labels_and_exclusion(db, crowd):
    project, people = crowd
    table = participant_quality_table(db, project.name).set_index("annotator")
    good1, good2, bad = (people[k].name for k in ("good1", "good2", "bad"))
    assert table.loc[[good1, good2, bad], "labels"].tolist() == [4, 4, 2]  # excluded participants are listed
    assert table.loc[[good1, good2, bad], "attention_failed"].tolist() == [0, 0, 2]
    assert table.loc[[good1, good2, bad], "attention_passed"].tolist() == [2, 2, 0]
    assert table.loc[[good1, good2, bad], "is_excluded"].tolist() == [False, False, True]
    assert table.loc[[good1, good2, bad], "fast_labels"].tolist() == [1, 0, 0]  # 1 s < 2 s; the rest took 10 s
    assert table.loc[good2, "median_seconds"] == pytest.approx(10.0)
    assert table.loc[good1, "participant_id"] == PIDS["good1"]
    # Every real label chose the response shown first: a share of 1 (4 of 4, p = 2 / 2^4).
    assert table.loc[good1, ["chose_first", "chose_second"]].tolist() == [4, 0]
    assert table.loc[good1, "position_p_value"] == pytest.approx(0.125)


def test_fast_labels_are_marked_on_the_review_page_and_not_hidden(db, crowd):
    project, people = crowd
    fast = review.fast_labels_table(db, project.name)
    assert fast[["participant", "seconds"]].values.tolist() == [[people["good1"].name, 1.0]]
    item = review.review_item(db, project.name, fast["id"].iloc[0])
    events = review.events_table(item, project.config.study.min_seconds)
    assert events["Status"].str.contains("faster than 2 s").sum() == 1
    import storage
    words = review.fast_label_words(storage.cursor(db), project)  # the review queue's column
    assert words.tolist() == [f"{people['good1'].name}: 1 s"]
    assert build_report(db, project.name, NO_BOOT).overview["human_labels"] == 8  # still counted


def test_review_page_lists_the_excluded_and_its_buttons_include_and_exclude(db, db_path, crowd, monkeypatch):
    from streamlit.testing.v1 import AppTest
    import storage
    project, people = crowd
    monkeypatch.setenv(storage.db.DB_ENV_VAR, str(db_path))
    _, token = add_annotator(db, "rachel", "researcher")
    db.close()
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=90)
    at.session_state["project"] = project.name
    at.query_params["token"] = token
    at = at.run().switch_page("pages/review.py").run()
    assert not at.exception
    assert any(e.label == "Study participants: 3, 1 excluded" for e in at.expander)
    listed = at.dataframe[0].value
    assert listed.iloc[0]["participant"] == people["bad"].name and listed.iloc[0]["status"].startswith("Stopped")
    assert PIDS["bad"] not in listed.to_string()  # the review page shows opaque names only
    next(s for s in at.selectbox if s.label == "Participant").set_value(people["bad"].name)
    next(b for b in at.button if b.label == "Include again").click().run()
    assert not at.exception
    assert any(e.label == "Study participants: 3, 0 excluded" for e in at.expander)
    next(s for s in at.selectbox if s.label == "Participant").set_value(people["good1"].name)
    next(b for b in at.button if b.label == "Exclude").click().run()
    assert any("needs a reason" in e.value for e in at.error)
    next(t for t in at.text_input if t.label == "Reason (to exclude)").input("too fast")
    next(b for b in at.button if b.label == "Exclude").click().run()
    assert any(e.label == "Study participants: 3, 1 excluded" for e in at.expander)
    conn = storage.connect(db_path)
    try:
        report = build_report(conn, project.name, NO_BOOT)
    finally:
        conn.close()
    assert report.exclusion["excluded_participant_names"] == [people["good1"].name]
    assert "too fast (excluded by rachel)" in report.exclusion["statement"]
