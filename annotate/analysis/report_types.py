"""The shapes of an agreement report, shared by the pairwise (report) and rubric (report_rubric)
builders: what it covers (ReportFilters), what it holds (AgreementReport), and small helpers."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CEILING = "human ceiling (leave-one-out)"
HUMANS = "humans"


@dataclass(frozen=True)
class ReportFilters:
    """What the report covers. `metadata` is a (key, value) slice on item metadata."""
    aspect: str = "overall"
    tie_policy: str = "with_ties"
    metadata: tuple[str, str] | None = None
    calibration_only: bool = False
    n_boot: int = 1000
    seed: int = 0

    def slice_args(self) -> dict:
        key, value = self.metadata if self.metadata else (None, None)
        return {"metadata_key": key, "metadata_value": value, "calibration_only": self.calibration_only}


@dataclass
class AgreementReport:
    """Every table of the report (DataFrames are tidy; see build_report for their columns)."""
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

    def tables(self) -> dict[str, pd.DataFrame]:
        """The report's DataFrames by name (for CSV downloads)."""
        return {name: value for name, value in vars(self).items() if isinstance(value, pd.DataFrame)}

    def as_dict(self) -> dict:
        """The whole report as JSON-ready data (NaN becomes None)."""
        out = {"project": self.project, "task_type": self.task_type, "filters": vars(self.filters).copy(),
               "overview": self.overview, "fleiss": _clean(self.fleiss),
               "human_agreement": _clean(self.human_agreement)}
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
