"""Errors of crowd studies. Their messages are sentences a participant can read (no ids, no jargon)."""
from annotate.errors import AnnotateError


class StudyError(AnnotateError):
    """A study action cannot go ahead (the message says why and what to do)."""


class StudyLinkError(StudyError):
    """The study link is unknown or was closed by the researchers."""


class StudyFullError(StudyError):
    """Every place in the study is taken."""


class ParticipantIdError(StudyError):
    """The link came without a usable participant id (e.g. a platform placeholder left unfilled)."""
