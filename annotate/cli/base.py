"""The command line: `python -m annotate [--db PATH] COMMAND`.

Each command is a thin adapter: open the database, call one library function, print the result.
Library errors become a one-line message and exit status 1 (click's ClickException), and so do
a damaged database file, a full disk and a file that cannot be read or written: a user never sees
a traceback. Only `init`, `import` and `annotators` create a missing database file; every other
command says the file does not exist, so that a mistyped --db is not silently a new, empty
database. One module per command group; each imports the heavy parts of the library (pandas statistics, scikit-learn,
torch) inside its commands, so `python -m annotate --help` and light commands start fast.
"""
from __future__ import annotations

import json

import click
import duckdb

import storage
from storage import pg_errors
from annotate.errors import AnnotateError


CREATING_COMMANDS = {"init", "import", "annotators"}


class Group(click.Group):
    """A click group that turns our named errors, database and file errors into clean CLI errors."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (AnnotateError, storage.StoreError) as exc:
            raise click.ClickException(str(exc)) from None
        except duckdb.Error as exc:
            raise click.ClickException(str(_database_error(ctx, exc))) from None
        except OSError as exc:
            raise click.ClickException(_file_error(exc)) from None
        except Exception as exc:  # psycopg's errors: the same one-line StoreErrors, never the password
            error = pg_errors.store_error(exc, str((ctx.find_root().obj or {}).get("db_path", "")))
            if error is None:
                raise
            raise click.ClickException(str(error)) from None


def _database_error(ctx: click.Context, exc: duckdb.Error) -> storage.StoreError:
    """A DuckDB error met while a command ran: a full disk, else a damaged file."""
    if storage.db.is_disk_full(exc):
        return storage.db.StoreFullError(storage.db.DISK_FULL_MESSAGE)
    return storage.db.open_error(ctx.find_root().obj["db_path"], exc)


def _file_error(exc: OSError) -> str:
    """One line for a file that cannot be read or written (the file and the reason)."""
    place = f" {exc.filename}" if exc.filename else ""
    return f"Cannot use{place}: {exc.strerror or exc}"


@click.group(cls=Group)
@click.option("--db", "db_path", type=click.Path(dir_okay=False), envvar=storage.db.DB_ENV_VAR, metavar="FILE|URL",
              default=str(storage.DEFAULT_DB_PATH), show_default=True,
              help="DuckDB file or postgresql:// URL (or set $ANNOTATE_DB).")
@click.pass_context
def cli(ctx: click.Context, db_path: str) -> None:
    """Human + AI preference annotation: import, label, judge, route, measure, export."""
    ctx.obj = {"db_path": db_path}


def open_db(ctx: click.Context) -> duckdb.DuckDBPyConnection:
    """The command's connection, opened once and closed when the command ends (the file is created
    only by the CREATING_COMMANDS)."""
    root = ctx.find_root()
    if "conn" not in root.obj:
        create = root.invoked_subcommand in CREATING_COMMANDS
        root.obj["conn"] = storage.connect(root.obj["db_path"], create=create)
        root.call_on_close(root.obj["conn"].close)
    return root.obj["conn"]


def echo_json(data) -> None:
    """Print JSON the way every --json option does (UTF-8 kept, dates as text)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
