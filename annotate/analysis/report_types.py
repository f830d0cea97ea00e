"""The shapes of an agreement report, shared by the pairwise (report) and rubric (report_rubric)
builders: what it covers (ReportFilters), what it holds (AgreementReport), and small helpers."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CEILING = "human ceiling (leave-one-out)"
HUMANS = "humans"


MetadataFilter = tuple[str, str]


@dataclass(frozen=True)
class ReportFilters:
    """What the report covers.

    `metadata` slices on item metadata: one (key, value) pair, or a tuple of pairs that must all
    hold (`agreement --metadata K1=V1 --metadata K2=V2`); None for every item.
    """
    aspect: str = "overall"
    tie_policy: str = "with_ties"
    metadata: MetadataFilter | tuple[MetadataFilter, ...] | None = None
    calibration_only: bool = False
    n_boot: int = 1000
    seed: int = 0
    include_excluded: bool = False  # crowd studies: keep excluded participants' labels (annotate.study.exclusion)

    @property
    def metadata_pairs(self) -> tuple[MetadataFilter, ...]:
        """The metadata filters as a tuple of (key, value) pairs (empty for none)."""
        if not self.metadata:
            return ()
        if isinstance(self.metadata[0], str):
            return (tuple(self.metadata),)
        return tuple(tuple(pair) for pair in self.metadata)

    def slice_args(self) -> dict:
        return {"metadata": self.metadata_pairs, "calibration_only": self.calibration_only}


@dataclass
class AgreementReport:
    """Every table of the report (DataFrames are tidy; see build_report for their columns).

    Tables added for issue 14 (the pages may draw them; all are in `tables()` and the JSON):

    - `judges` (pairwise) keeps its columns; majority_* now compare with the item's reference label
      (annotate.analysis.reference) over *all* items with a reference, an unparsed or missing verdict
      counting as wrong, and new columns say the rest: reference ('humans', 'gold: NAME' when there
      are no human votes, 'humans (leave-one-out)' for the ceiling row), majority_n_parsed,
      majority_agreement_parsed, majority_agreement_parsed_lo/_hi (parsed verdicts only), coverage
      (= majority_n_parsed / majority_n), split_policy. majority_kappa is over parsed verdicts.

    - `definitions`: one row per (reference, rater, measure, over), every published definition
      side by side (annotate.analysis.definitions for pairwise, annotate.analysis.rubric_agreement
      for rubric). Columns: reference ('humans', 'gold: NAME', 'humans (leave-one-out)', 'humans
      (each vote)'), rater, kind ('judge' | 'human'), measure, over ('all items': unparsed counts as
      wrong, the default | 'parsed items'), value, lo, hi (95% bootstrap), n (denominator), n_total,
      n_parsed, coverage (n_parsed / n_total), definition (words), source (paper and arXiv id),
      reason (why value is NaN). Rubric reports add `level` ('item' | 'system').
    - `coverage`: per judge and presented order (AB, BA, none, all), what the judge returned:
      judge, order, judgments, parsed, unparsed, out_of_range (rubric scores off the criterion's
      scale: counted here, never used as scores), items, items_parsed.
    - `gold`: the rows of `definitions` against a gold reference with measure 'accuracy': each
      judge's and each human's accuracy against gold (empty without a gold rater).
    - `reference` (a dict, not a table): how the reference label was made: split_policy and its
      sentence, rubric_reference, gold raters, items with a reference, split, adjudicated.

    Crowd studies (issue 19):
    - `participant_quality`: the per-participant quality table (annotate.study.quality.COLUMNS):
      attention checks, agreement with the others, time, fast labels, position bias, Dawid-Skene
      worker quality; over every rater of the slice, excluded participants included.
    - `exclusion` (a dict): which participants' labels the report leaves out (by default the
      excluded ones) and its sentence (annotate.study.exclusion.Exclusion.summary).
    """
    project: str
    task_type: str
    filters: ReportFilters
    overview: dict
    judges: pd.DataFrame
    pairs: pd.DataFrame
    alpha: pd.DataFrame
    fleiss: dict
    human_agreement: dict
    confusion: pd.DataFrame = field(default_factory=pd.DataFrame)
    position: pd.DataFrame = field(default_factory=pd.DataFrame)
    length: pd.DataFrame = field(default_factory=pd.DataFrame)
    side: pd.DataFrame = field(default_factory=pd.DataFrame)
    annotators: pd.DataFrame = field(default_factory=pd.DataFrame)
    ratings: pd.DataFrame = field(default_factory=pd.DataFrame)
    ranking_tau: pd.DataFrame = field(default_factory=pd.DataFrame)
    win_rates: pd.DataFrame = field(default_factory=pd.DataFrame)
    definitions: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    gold: pd.DataFrame = field(default_factory=pd.DataFrame)
    reference: dict = field(default_factory=dict)
    participant_quality: pd.DataFrame = field(default_factory=pd.DataFrame)
    exclusion: dict = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The report's DataFrames by name (for CSV downloads)."""
        return {name: value for name, value in vars(self).items() if isinstance(value, pd.DataFrame)}

    def as_dict(self) -> dict:
        """The whole report as JSON-ready data (NaN becomes None)."""
        filters = vars(self.filters).copy()
        filters["metadata"] = [list(pair) for pair in self.filters.metadata_pairs]
        out = {"project": self.project, "task_type": self.task_type, "filters": filters,
               "reference": _clean(self.reference), "overview": _clean(self.overview),
               "fleiss": _clean(self.fleiss), "human_agreement": _clean(self.human_agreement),
               "exclusion": _clean(self.exclusion)}
        out.update({name: records(frame) for name, frame in self.tables().items()})
        return out


def records(frame: pd.DataFrame) -> list[dict]:
    """DataFrame rows as dicts with NaN turned into None and numpy scalars into Python ones."""
    return [_clean(row) for row in frame.to_dict("records")]


def _clean(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        out[key] = None if isinstance(value, float) and np.isnan(value) else value
    return out


def wide_codes(item_ids: np.ndarray, rows_item: pd.Series, rows_rater: pd.Series,
               values: np.ndarray) -> pd.DataFrame:
    """items x raters matrix (NaN where missing) from long rows, one value per (item, rater)."""
    raters = sorted(pd.unique(rows_rater))
    position = pd.Index(item_ids).get_indexer(rows_item)
    column = pd.Index(raters).get_indexer(rows_rater)
    keep = position >= 0
    matrix = np.full((len(item_ids), len(raters)), np.nan)
    matrix[position[keep], column[keep]] = np.asarray(values, dtype=float)[keep]
    return pd.DataFrame(matrix, index=pd.Index(item_ids, name="item_id"), columns=raters)


OVERALL = "(all items)"
MAX_SLICES = 100


@dataclass
class SlicedReport:
    """`agreement --by KEY`: the report overall and for each value of one metadata key.

    `reports` maps the slice ('(all items)' first, then each value of KEY, sorted) to its full
    AgreementReport; `table()` is every number of `definitions` with the slice in front (columns
    by, slice, items, then the definitions columns), and `as_dict()` one JSON document.
    """
    by: str
    reports: dict[str, AgreementReport]
    items_without_key: int = 0

    def table(self) -> pd.DataFrame:
        """One tidy table: the definitions of every slice, with `by`, `slice` and `items` in front."""
        frames = [report.definitions.assign(by=self.by, slice=name, items=report.overview.get(
            "items", report.overview.get("units")))
            for name, report in self.reports.items()]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        front = ["by", "slice", "items"]
        return frame[front + [c for c in frame.columns if c not in front]]

    def as_dict(self) -> dict:
        return {"by": self.by, "items_without_key": self.items_without_key, "table": records(self.table()),
                "slices": {name: report.as_dict() for name, report in self.reports.items()}}
