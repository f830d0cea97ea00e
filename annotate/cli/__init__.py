"""The command line: `python -m annotate COMMAND`; `base` has the group and helpers, and each
module registers one command group on it (imported here for that side effect, in help order)."""
from __future__ import annotations

from annotate.cli import setup, projects, importing, people, exporting, judges, analysis, router  # noqa: F401  (registers commands)
from annotate.cli import review  # noqa: F401,E402  (registers commands)
from annotate.cli import serve  # noqa: F401,E402  (registers commands)
from annotate.cli import migrate  # noqa: F401,E402  (registers commands)
from annotate.cli import study  # noqa: F401,E402  (registers commands)
from annotate.cli.base import cli


def main() -> None:
    """Entry point of `python -m annotate`."""
    cli(prog_name="python -m annotate")
