"""The shapes of an export, shared by the exporter (export) and the dataset card (dataset_card):
formats, what an export keeps (ExportFilters) and what it produced (ExportResult)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import pandas as pd

from annotate.data.export_files import FILE_FORMATS
from annotate.projects import Project

KINDS = ("dpo", "helpsteer2", "rubric", "events", "judgments")
FORMATS = tuple(f"{kind}-{fmt}" for kind in KINDS for fmt in FILE_FORMATS) + ("hf",)
SOURCES = ("human", "ai", "both", "adjudicated", "gold")
CHUNK_ROWS = 100_000
PROVENANCE = ["source", "n_annotators", "agreement", "judge_id", "judge"]


@dataclass(frozen=True)
class ExportFilters:
    """Which final labels an export keeps. Empty tuples and None mean "no restriction".

    since/until bound the creation time of the human labels and judgments that count, [since,
    until) in UTC; annotators restricts the human labels to those people. The other filters act on
    final labels: min_agreement drops items below it (and items with fewer than two raters, whose
    agreement is undefined), sources keeps 'human' / 'ai' / 'both'.

    Crowd studies (annotate.study.exclusion): excluded participants' labels are left out unless
    include_excluded; participants' platform ids (PROLIFIC_PID, workerId) are in no export unless
    with_participant_ids (a `participant_ids` column: the ids of the participants whose labels
    count in the row, comma-separated; `participant_id` on audit events).
    """
    min_agreement: float | None = None
    exclude_ties: bool = False
    exclude_both_bad: bool = False
    sources: tuple[str, ...] = ()
    aspects: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    annotators: tuple[str, ...] = ()
    include_excluded: bool = False
    with_participant_ids: bool = False

    def active(self) -> dict:
        """The filters that restrict anything, as plain values (for the dataset card)."""
        return {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, datetime) else v)
                for k, v in asdict(self).items() if v not in (None, False, ())}


@dataclass
class ExportResult:
    """An export: what produced it, the counts the filters left, and its rows.

    For preference kinds built with materialize=False, `rows` is None and `final` holds the
    filtered final labels; iter_rows builds the rows chunk by chunk. `summary` (label sources,
    agreement, judges) feeds the dataset card.
    """
    project: Project
    kind: str
    rows: pd.DataFrame | None
    counts: dict[str, int]
    filters: ExportFilters
    method: str | None = None
    judge: str | None = None
    annotators: int = 0
    summary: dict = field(default_factory=dict)
    final: pd.DataFrame | None = None
    exclusion: dict = field(default_factory=dict)  # annotate.study.exclusion.Exclusion.summary

    @property
    def n_rows(self) -> int:
        return self.counts["rows"]
