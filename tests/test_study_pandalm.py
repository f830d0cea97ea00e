"""A crowd study on the real PandaLM test set: checks from items the three annotators agree on."""
from __future__ import annotations

import numpy as np

import storage
from annotate.projects import get_project, update_config
from annotate.signs import VERDICT
from annotate.study import checks, flow, links, participants, reports
from storage import labels as label_store


def test_a_pandalm_study_serves_checks_from_unanimous_items_and_respects_the_imported_labels(db, pandalm, tmp_path):
    labels = label_store.current_label_values(storage.cursor(db), pandalm.id)
    overall = labels[labels["aspect"] == "overall"].assign(sign=lambda f: np.sign(f["value"]).astype(int))
    signs = overall.groupby("external_id")["sign"].agg(["min", "max", "count"])
    unanimous = signs[(signs["min"] == signs["max"]) & (signs["count"] == 3)]
    assert len(signs) == 999 and len(unanimous) > 100  # PandaLM: 3 annotators on each of 999 pairs
    picks = list(unanimous["min"].items())[:12]
    path = tmp_path / "checks.csv"
    path.write_text("id,answer,purpose,explanation\n" + "".join(
        f"{ext},{VERDICT[s]},{'training' if i < 2 else 'attention'},All three annotators chose {VERDICT[s]}\n"
        for i, (ext, s) in enumerate(picks)))
    assert checks.mark_from_file(db, pandalm, path) == 12
    update_config(db, "pandalm", {"overlap": 4, "study": {  # 3 imported labels per item: one more from the crowd
        "quota": 10, "completion_code": "PANDA", "training_items": 2, "training_pass": 0.5,
        "qualification_code": "PANDAQ", "attention_positions": [3, 7], "max_attention_failures": 0}})
    project = get_project(db, "pandalm")
    secret = links.open_link(db, project)
    expected = {int(r.item_id): r.expected for r in checks.check_items(db, project).itertuples()}
    served_real: list[str] = []
    for pid in ("pandalm-worker-1", "pandalm-worker-2", "pandalm-worker-3"):
        person = participants.enter(db, project, secret, {"PROLIFIC_PID": pid})
        while (item := flow.next_study_item(db, project, person.annotator_id)) is not None:
            item_id = item.assignment.item_id
            if item_id in expected:
                values = checks.expected_as_presented(project, expected[item_id], item.assignment.presented_order)
            else:
                values = {"overall": -1}
                served_real.append(item.assignment.external_id)
            flow.submit(db, project, person.annotator_id, item_id, values)
    assert len(served_real) == 3 * 8 == len(set(served_real))  # k = 4: each item takes one crowd label
    assert not set(served_real) & {ext for ext, _ in picks}
    status = reports.study_status(db, project)
    assert status["participants"]["completed"] == 3 and status["completion_codes_issued"]["completion"] == 3
    top = storage.cursor(db).execute("SELECT max(n) FROM labels_toward_k WHERE project_id = ?",
                                     [project.id]).fetchone()[0]
    assert top == 4
