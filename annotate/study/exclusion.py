"""What reports, agreement and exports leave out of a crowd study's labels, and the sentence that says so.

- Check answers: a participant's answers to attention checks and training items measure the
  participant, not the item. They are stored apart from label events (storage.study,
  `study_check_answers`), so they never reach a report, the agreement numbers or an export as
  labels, whatever the option below; the statement counts them so that a reader knows they exist.
- Excluded participants' labels: a participant flagged as excluded (more than the project's
  allowed number of failed attention checks, or a researcher's decision on the review page) has
  their labels left out by default. `include_excluded` (CLI `--include-excluded`, a checkbox on
  the pages) keeps them; the report or export card states either way how many participants and
  labels it concerns.

Labels are counted as label events (one event may hold several aspects or responses).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

import storage
from storage import study_quality as quality_store
from storage.db import Connection
from annotate.projects import Project, get_project
from annotate.study import reports

EXCLUDED_COLUMNS = ["annotator_id", "annotator", "exclusion_reason"]


@dataclass(frozen=True)
class Exclusion:
    """A project's excluded participants, its stored check answers, and whether to keep the former.

    excluded: EXCLUDED_COLUMNS, one row per excluded participant. check_answers: how many
    answers to attention checks and training items the project holds (never labels).
    participants: how many study participants the project has.
    """
    include_excluded: bool = False
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EXCLUDED_COLUMNS))
    check_answers: int = 0
    participants: int = 0

    def apply(self, labels: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
        """Drop the excluded participants' labels unless they are included.

        Args:
            labels: label rows with event_id and annotator_id (any number of rows per event).

        Returns:
            (kept rows, summary): see `summary`.
        """
        is_excluded = labels["annotator_id"].isin(self.excluded["annotator_id"].astype(int))
        summary = self.summary(labels.loc[is_excluded, "event_id"].nunique())
        kept = labels if self.include_excluded else labels[~is_excluded]
        return kept.reset_index(drop=True), summary

    def keep_people(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of `frame` (with annotator_id) that count: without the excluded participants'
        unless they are included (per-annotator counts beside the labels that `apply` filtered)."""
        if self.include_excluded:
            return frame
        return frame[~frame["annotator_id"].isin(self.excluded["annotator_id"].astype(int))].reset_index(drop=True)

    def summary(self, excluded_labels: int) -> dict:
        """What was left out, as data and as one sentence (for a report or an export card).

        Args:
            excluded_labels: the excluded participants' label events among the rows at hand.

        Returns:
            include_excluded, participants (in the study), excluded_participants (flagged in the
            project), excluded_participant_names (their opaque names, never platform ids),
            excluded_labels (left out, or kept when included), check_answers (stored apart, never
            labels), statement (words).
        """
        excluded = self.excluded.sort_values("annotator")
        names = excluded["annotator"].astype(str).tolist()
        who = "; ".join(f"{name}: {reason}" if isinstance(reason, str) and reason else name
                        for name, reason in zip(names, excluded["exclusion_reason"]))
        n, labels = len(names), int(excluded_labels)
        people, label_words = f"{n} participant{'s' if n != 1 else ''}", f"label{'s' if labels != 1 else ''}"
        if n == 0:
            words = "No participant is excluded."
        elif self.include_excluded:
            words = (f"{people} flagged as excluded ({who}) are included as asked: their {labels} {label_words} "
                     f"count.")
        else:
            words = (f"{people} excluded ({who}): their {labels} {label_words} are left out (choose to include "
                     f"excluded participants to count them).")
        if self.check_answers:
            words += (f" {self.check_answers} answer{'s' if self.check_answers != 1 else ''} to attention checks "
                      f"and training items are not labels and are in no report or export.")
        return {"include_excluded": self.include_excluded, "participants": self.participants,
                "excluded_participants": n,
                "excluded_participant_names": names, "excluded_labels": labels,
                "check_answers": self.check_answers, "statement": words}


def read_exclusion(conn: Connection, project: Project, include_excluded: bool = False) -> Exclusion:
    """The project's excluded participants and count of check answers (annotate.study.reports)."""
    excluded = reports.excluded_participants(conn, project)
    people = reports.participant_ids(conn, project)
    return Exclusion(include_excluded, excluded[EXCLUDED_COLUMNS], len(reports.check_answers(conn, project)),
                     len(people))


def study_version(conn: Connection, project_name: str) -> tuple:
    """A value that changes when a project's exclusions, participants or check answers do (they
    are not label events, so annotate.projects.data_version does not see them): the key, with
    data_version, of a page's cached report."""
    return quality_store.study_version(storage.cursor(conn), get_project(conn, project_name).id)


def participant_ids(conn: Connection, project: Project) -> pd.Series:
    """The platform id (PROLIFIC_PID, workerId, pid) of each participant, by annotator id: for
    exports that ask for them (researchers only; no page or default export shows them)."""
    people = reports.participant_ids(conn, project)
    return pd.Series(people["participant_id"].to_numpy(dtype=object), index=people["annotator_id"].astype(int),
                     name="participant_id")


def ids_per_item(labels: pd.DataFrame, ids: pd.Series) -> pd.Series:
    """Per item, the sorted platform ids of the participants among its labels, comma-separated
    ('' where no participant labeled it).

    Args:
        labels: rows with item_id and annotator_id. ids: participant_ids(...).
    """
    found = labels[["item_id", "annotator_id"]].assign(participant_id=labels["annotator_id"].map(ids)).dropna()
    return found.groupby("item_id")["participant_id"].agg(lambda s: ",".join(sorted(set(s)))).rename("participant_ids")
