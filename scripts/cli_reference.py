"""Generate the README's CLI reference from the commands' --help (checked by tests/test_cli.py).

Usage: python scripts/cli_reference.py [--write]   (without --write: print the reference)
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from annotate.cli import cli  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"


def reference() -> str:
    """Markdown: one fenced --help block per command and subcommand, in definition order."""
    blocks = []

    def walk(command: click.Command, path: list[str]) -> None:
        with click.Context(command, info_name=" ".join(path), terminal_width=100) as ctx:
            blocks.append(f"```\n$ {' '.join(path)} --help\n{command.get_help(ctx)}\n```")
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])

    walk(cli, ["python -m annotate"])
    return "\n\n".join(blocks)


def readme_with_reference(text: str) -> str:
    """README text with the block between the markers replaced by the current reference."""
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{reference()}\n{END}{tail}"


if __name__ == "__main__":
    if "--write" in sys.argv:
        README.write_text(readme_with_reference(README.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(reference())
