"""Property-based tests (hypothesis): arbitrary input never crashes with anything but our named
errors, and the statistics keep their invariants (kappa in [-1, 1], alpha <= 1, agreement
symmetric in the raters, Bradley-Terry independent of the order of the games).

The imports into a database run on both backends: one database per test (a fresh PostgreSQL schema
costs a migration, too slow per example) and a new project per example, so that examples do not
see each other's rows. Arbitrary text includes NUL, which PostgreSQL cannot store: these tests are
what shows that it is refused as bad input there (an ImportDataError) and not an engine error.
"""
from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import storage
from annotate.data import adapters
from annotate.analysis import agreement, rankings
from annotate.config import Criterion, ProjectConfig
from annotate.errors import AnnotateError, ImportDataError
from annotate.data.importers import ColumnMapping, Record, batch_from_records, import_file, read_records
from annotate.projects import Project, create_project

FEW = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
# The `db` fixture is shared by a test's examples on purpose: each example imports into a project of its own.
PER_PROJECT = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
_PROJECT_NUMBERS = itertools.count(1)

pytestmark = pytest.mark.both_backends
PAIRWISE = Project(1, "p", ProjectConfig(task_type="pairwise"))
RUBRIC = Project(2, "r", ProjectConfig(task_type="rubric", criteria=[
    Criterion(name="accuracy", scores={1: "wrong", 2: "partly", 3: "right"})]))

# JSON-like values, biased toward the fields the importers look at
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.sampled_from(["A", "B", "tie", "", " ", "[", "{", "2", "-1"]),
                    st.sampled_from([float("nan"), float("inf"), 1e300, 2.0, -0.0]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=8)
FIELDS = ["id", "prompt", "response_a", "response_b", "response", "model_a", "model_b", "human", "judge",
          "context", "question_id", "turn", "winner", "judge", "conversation_a", "conversation_b",
          "comparison_id", "text", "completion_a", "completion_b", "normal_worker_annotations",
          "expert_worker_annotations", "idx", "cmp_key", "instruction", "input", "response1", "response2"]
records_data = st.lists(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), json_values, max_size=10),
                        min_size=1, max_size=5)


def as_records(rows: list[dict]) -> list[Record]:
    return [Record(f"input record {i + 1}", row) for i, row in enumerate(rows)]


def only_named_errors(fn, *args, **kwargs):
    """Call fn; our named errors are a fine answer to bad input, anything else fails the test."""
    try:
        return fn(*args, **kwargs)
    except AnnotateError:
        return None


# ---------------------------------------------------------------- importers


@FEW
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
       fmt=st.sampled_from(["jsonl", "json", "csv"]))
def test_read_records_on_arbitrary_bytes_raises_only_import_errors(raw, fmt):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data.{fmt}"
        path.write_bytes(raw)
        records = only_named_errors(read_records, path)
    assert records is None or all(isinstance(r.data, dict) for r in records)


@FEW
@given(text=st.text(max_size=60) | st.sampled_from(["a\u2028b", "\u0085", "\r", "x\r\ny", "\u2029\x0c\x1c", "nul \x00"]),
       ascii_only=st.booleans())
def test_any_text_in_a_jsonl_string_reads_back_exactly(text, ascii_only):
    """JSON lines are split on \\n only: Unicode line separators inside strings stay text. The one
    exception is NUL, which is refused naming the field (annotate/text_checks.py)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.jsonl"
        path.write_bytes((json.dumps({"id": "1", "t": text}, ensure_ascii=ascii_only) + "\n").encode("utf-8"))
        if "\x00" in text:
            with pytest.raises(ImportDataError, match="data.jsonl line 1, field 't': text contains a NUL"):
                read_records(path)
        else:
            assert read_records(path)[0].data["t"] == text


def new_project(db) -> Project:
    """A pairwise project no earlier example has used."""
    return create_project(db, f"p{next(_PROJECT_NUMBERS)}", ProjectConfig(task_type="pairwise"))


@settings(FEW, suppress_health_check=PER_PROJECT)
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
       fmt=st.sampled_from(["jsonl", "json", "csv"]), shape=st.sampled_from(["items", "judgments", "labels"]))
def test_import_of_arbitrary_bytes_in_any_shape_raises_only_import_errors(raw, fmt, shape, db, tmp_path_factory):
    path = tmp_path_factory.mktemp("shape") / f"data.{fmt}"
    path.write_bytes(raw)
    only_named_errors(import_file, db, new_project(db), path, shape=shape,
                      mapping=ColumnMapping(human_labels={"*": "h"}, judge_labels={"j@BA": "j"}))


@FEW
@given(rows=records_data, project=st.sampled_from([PAIRWISE, RUBRIC]),
       with_labels=st.booleans())
def test_batch_from_arbitrary_records_raises_only_import_errors(rows, project, with_labels):
    mapping = ColumnMapping(human_labels={"ann": "human"} if with_labels else {},
                            judge_labels={"judge-x": "judge"} if with_labels else {})
    batch = only_named_errors(batch_from_records, project, as_records(rows), mapping, "test")
    if batch is not None:
        assert len(batch.items) == len(rows)
        assert all(isinstance(r["text"], str) for r in batch.responses)


@FEW
@given(label=st.sampled_from([float("nan"), float("inf"), 1e300, 2.5, "B", [1], {}]) | json_values,
       judge=st.sampled_from([float("nan"), float("-inf"), [[1]], [{"accuracy": [2]}], "A"]) | json_values,
       project=st.sampled_from([PAIRWISE, RUBRIC]),
       rubric_label=st.sampled_from([{"accuracy": [1]}, {"accuracy": {}}, {"accuracy": float("nan")}]) |
       st.dictionaries(st.sampled_from(["accuracy", "style"]), scalars, max_size=2))
def test_label_and_judge_columns_of_any_value_raise_only_import_errors(label, judge, project, rubric_label):
    rows = [{"id": "x", "prompt": "p", "response_a": "a", "response_b": "b", "response": "r",
             "human": label, "judge": judge},
            {"id": "y", "prompt": "p", "response_a": "a", "response_b": "b", "response": "r",
             "human": rubric_label, "judge": [rubric_label]}]
    mapping = ColumnMapping(human_labels={"ann": "human"}, judge_labels={"judge-x": "judge"})
    for one in rows:
        only_named_errors(batch_from_records, project, as_records([one]), mapping, "test")


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=PER_PROJECT)
@given(rows=st.lists(st.fixed_dictionaries({"id": st.text(max_size=5) | st.integers(0, 3),
                                            "prompt": st.text(max_size=20) | st.just("with a NUL \x00"),
                                            "response_a": st.text(max_size=20),
                                            "response_b": st.text(max_size=20) | st.none(),
                                            "human": st.sampled_from(["A", "B", "tie", "x", None, 3, 1.5])}),
                     min_size=1, max_size=6))
def test_import_file_is_all_or_nothing_on_arbitrary_rows(rows, db, tmp_path_factory):
    path = tmp_path_factory.mktemp("imp") / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = new_project(db)
    report = only_named_errors(import_file, db, project, path, mapping=ColumnMapping(human_labels={"ann": "human"}))
    n_items = storage.cursor(db).execute("SELECT count(*) FROM items WHERE project_id = ?", [project.id]).fetchone()[0]
    assert n_items == (0 if report is None else len(rows))


@FEW
@given(rows=records_data, adapter=st.sampled_from(["mtbench", "multipref"]))
def test_adapters_on_arbitrary_records_raise_only_import_errors(rows, adapter):
    only_named_errors(adapters.adapter_batch_from_records, adapter, as_records(rows),
                      adapters.adapter_config(adapter))


message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", 3]),
                                 "content": st.text(max_size=10) | st.integers()})
mtbench_rows = st.lists(st.fixed_dictionaries({
    "question_id": st.integers(0, 3) | st.text(max_size=3), "model_a": st.sampled_from(["m1", "m2", 5]),
    "model_b": st.sampled_from(["m1", "m2", "m3"]), "winner": st.sampled_from(["model_a", "model_b", "tie", "x"]),
    "judge": st.sampled_from(["human-1", "gpt4_pair", "author_2"]), "turn": st.sampled_from([1, 2, 3, "1"]),
    "conversation_a": st.lists(message, max_size=4) | st.text(max_size=8),
    "conversation_b": st.lists(message, max_size=4)}), min_size=1, max_size=4)


@FEW
@given(rows=mtbench_rows)
def test_mtbench_adapter_on_near_valid_rows_raises_only_import_errors(rows):
    batch = only_named_errors(adapters.mtbench_batch, as_records(rows), adapters.mtbench_config())
    if batch is not None:
        assert all(isinstance(item["prompt"], str) for item in batch.items)


annotation = st.fixed_dictionaries({
    "evaluator": st.text(max_size=4) | st.none(),
    **{c: st.sampled_from(list(adapters.MULTIPREF_PREFS) + ["?", None, 2])
       for c in ["overall_pref", "helpful_pref", "truthful_pref", "harmless_pref"]},
    "time_spent": st.integers(0, 100) | st.floats() | st.text(max_size=3)})
multipref_rows = st.lists(st.fixed_dictionaries({
    "comparison_id": st.text(max_size=4) | st.integers(0, 9), "text": st.text(max_size=8),
    "completion_a": st.text(max_size=8), "completion_b": st.text(max_size=8) | st.none(),
    "normal_worker_annotations": st.lists(annotation, max_size=3) | st.none() | st.text(max_size=3)}),
    min_size=1, max_size=4)


@FEW
@given(rows=multipref_rows)
def test_multipref_adapter_on_near_valid_rows_raises_only_import_errors(rows):
    only_named_errors(adapters.multipref_batch, as_records(rows), adapters.multipref_config())


@FEW
@given(testset=json_values | st.lists(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8), max_size=3),
       judge=json_values)
def test_pandalm_adapter_on_arbitrary_files_raises_only_import_errors(testset, judge):
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, adapters.PANDALM_TESTSET).write_text(json.dumps(testset))
        for file_name, *_ in adapters.PANDALM_JUDGES.values():
            Path(folder, file_name).write_text(json.dumps(judge))
        only_named_errors(adapters.pandalm_batch, Path(folder), adapters.pandalm_config())


# ---------------------------------------------------------------- agreement

codes_matrix = st.integers(1, 12).flatmap(lambda n: st.integers(2, 5).flatmap(lambda r: st.lists(
    st.lists(st.sampled_from([-1.0, 0.0, 1.0, np.nan]), min_size=r, max_size=r), min_size=n, max_size=n)))
policies = st.sampled_from(agreement.TIE_POLICIES)


@FEW
@given(codes=codes_matrix, tie_policy=policies)
def test_cohen_kappa_is_within_minus_one_and_one_and_symmetric_in_the_raters(codes, tie_policy):
    frame = pd.DataFrame(codes, columns=[f"r{i}" for i in range(len(codes[0]))])
    table = agreement.rater_pair_table(frame, tie_policy)
    swapped = agreement.rater_pair_table(frame[frame.columns[::-1]], tie_policy)
    kappa = table["kappa"].dropna()
    assert ((kappa >= -1 - 1e-9) & (kappa <= 1 + 1e-9)).all()
    assert (table[["kappa_linear", "kappa_quadratic"]].dropna() <= 1 + 1e-9).all().all()
    assert ((table["agreement"].dropna() >= 0) & (table["agreement"].dropna() <= 1)).all()
    key = lambda t: {frozenset((r.rater_a, r.rater_b)): (r.n, r.agreement, r.kappa, r.kappa_linear, r.kappa_quadratic)
                     for r in t.itertuples()}
    left, right = key(table), key(swapped)
    assert left.keys() == right.keys()
    for pair, values in left.items():
        np.testing.assert_allclose(values, right[pair], rtol=1e-9, atol=1e-12)


@FEW
@given(codes=codes_matrix, tie_policy=policies, seed=st.integers(0, 1000))
def test_percent_agreement_is_a_share_and_ignores_the_order_of_raters(codes, tie_policy, seed):
    codes = np.array(codes)
    result = agreement.percent_agreement(codes, tie_policy)
    permuted = agreement.percent_agreement(codes[:, np.random.default_rng(seed).permutation(codes.shape[1])],
                                           tie_policy)
    assert np.isnan(result["agreement"]) or 0 <= result["agreement"] <= 1
    assert (np.isnan(result["agreement"]) and np.isnan(permuted["agreement"])) or \
        result["agreement"] == pytest.approx(permuted["agreement"])
    assert result["n_pairs"] == permuted["n_pairs"]


@FEW
@given(counts=st.lists(st.lists(st.integers(0, 4), min_size=3, max_size=3), min_size=0, max_size=10))
def test_fleiss_kappa_is_at_most_one(counts):
    result = agreement.fleiss_kappa(np.array(counts, dtype=float).reshape(-1, 3))
    assert np.isnan(result["kappa"]) == (result["reason"] is not None)
    assert np.isnan(result["kappa"]) or -1 - 1e-9 <= result["kappa"] <= 1 + 1e-9


@FEW
@given(data=st.integers(2, 4).flatmap(lambda r: st.lists(st.lists(
    st.sampled_from([-2.0, -1.0, 0.0, 1.0, 2.0, np.nan]), min_size=r, max_size=r), min_size=1, max_size=10)),
    level=st.sampled_from(agreement.ALPHA_LEVELS), seed=st.integers(0, 1000))
def test_krippendorff_alpha_is_at_most_one_and_symmetric_in_the_raters(data, level, seed):
    reliability = np.array(data).T  # raters x units
    result = only_named_errors(agreement.krippendorff_alpha, reliability, level)
    permuted = agreement.krippendorff_alpha(reliability[np.random.default_rng(seed).permutation(len(reliability))],
                                            level)
    assert np.isnan(result["alpha"]) == (result["reason"] is not None)
    assert np.isnan(result["alpha"]) or result["alpha"] <= 1 + 1e-9
    assert (np.isnan(result["alpha"]) and np.isnan(permuted["alpha"])) or \
        result["alpha"] == pytest.approx(permuted["alpha"], abs=1e-9)


@FEW
@given(pairs=st.lists(st.tuples(st.floats(-1e6, 1e6) | st.just(np.nan), st.floats(-1e6, 1e6)), max_size=12))
def test_correlations_are_within_minus_one_and_one(pairs):
    x, y = (np.array([p[i] for p in pairs], dtype=float) for i in (0, 1))
    frame = agreement.correlations(x, y)
    r = frame["r"].dropna()
    assert ((r >= -1 - 1e-9) & (r <= 1 + 1e-9)).all()


# ---------------------------------------------------------------- rankings

games_frames = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["m1", "m2", "m3", "m4"]),
                                  st.sampled_from(["m1", "m2", "m3", "m4"]), st.sampled_from([-1, 0, 1])),
                        max_size=25).map(lambda rows: pd.DataFrame(rows, columns=["item_id", "model_a", "model_b",
                                                                                  "code"]))


@FEW
@given(games=games_frames, seed=st.integers(0, 1000))
def test_bradley_terry_does_not_depend_on_the_order_or_orientation_of_games(games, seed):
    ratings = rankings.rate_models(games, "humans")
    shuffled = games.sample(frac=1, random_state=seed).reset_index(drop=True)
    flipped = shuffled.rename(columns={"model_a": "model_b", "model_b": "model_a"}).assign(code=-shuffled["code"])
    for other in (rankings.rate_models(shuffled, "humans"), rankings.rate_models(flipped, "humans")):
        left, right = ratings.set_index("model").sort_index(), other.set_index("model").sort_index()
        np.testing.assert_allclose(left["rating"].to_numpy(float), right["rating"].to_numpy(float), atol=1e-6)
        assert left["games"].tolist() == right["games"].tolist()
    assume(ratings["rating"].notna().any())
    assert ratings["rating"].mean() == pytest.approx(1000.0)


@FEW
@given(games=games_frames)
def test_win_rates_of_a_pair_add_up_to_one(games):
    rates = rankings.win_rates(games, "humans")
    both = rates.merge(rates, left_on=["model", "opponent"], right_on=["opponent", "model"])
    np.testing.assert_allclose((both["win_rate_x"] + both["win_rate_y"]).to_numpy(float), 1.0)
