"""Named errors. Messages name the object and the place (file, line, field)."""


class AnnotateError(Exception):
    """Base class for every error this library raises on purpose."""


class NotFoundError(AnnotateError):
    """A project, item, annotator, judge or event does not exist."""


class ImportDataError(AnnotateError):
    """An input file cannot be imported; the message names the file, line or row, and field."""


class ConfigError(AnnotateError):
    """A project or judge config is invalid."""


class LabelError(AnnotateError):
    """A label cannot be recorded (values off the scale, missing justification, ...)."""


class AuthError(AnnotateError):
    """A token is wrong, revoked or belongs to an inactive annotator."""
