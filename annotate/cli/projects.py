"""Projects: list, create (pairwise, or rubric with a criteria file), show, edit (checked against the
stored labels), archive, restore, delete."""
from __future__ import annotations

import json
from pathlib import Path

import click

import storage
from annotate import projects as project_lib
from annotate.cli.base import cli, echo_json, open_db
from annotate.config import ProjectConfig, build_config, parse_criteria, read_config_file
from annotate.errors import ConfigError


@cli.group("projects", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--archived", is_flag=True, help="List the archived projects too.")
@click.pass_context
def projects_command(ctx, as_json: bool, archived: bool) -> None:
    """List projects with their item counts; create, show, edit, archive or delete one."""
    if ctx.invoked_subcommand is not None:
        return
    frame = project_lib.list_projects(open_db(ctx), include_archived=archived)
    if not archived:
        frame = frame.drop(columns=["archived_at"])
    if as_json:
        echo_json(frame.to_dict("records"))
    else:
        click.echo(frame.to_string(index=False) if len(frame) else "No projects yet.")


def _open_creating(ctx: click.Context):
    """The command's connection; `projects create` may create the database file (like `import`)."""
    root = ctx.find_root()
    if "conn" not in root.obj:
        root.obj["conn"] = storage.connect(root.obj["db_path"], create=True)
        root.call_on_close(root.obj["conn"].close)
    return root.obj["conn"]


def _extra(config_file: str | None, overlap: int | None, guidelines: str | None, sets: tuple[str, ...]) -> dict:
    data = read_config_file(config_file) if config_file else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{Path(config_file).name}: expected an object of config fields")
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set: expected FIELD=VALUE, got {item!r}")
        try:
            data[key.strip()] = json.loads(value)
        except ValueError:
            data[key.strip()] = value
    if overlap is not None:
        data["overlap"] = overlap
    if guidelines is not None:
        data["guidelines"] = guidelines
    unknown = sorted(k for k in set(data) - set(ProjectConfig.model_fields)
                     if not k.startswith("study."))  # study.FIELD: one study setting
    if unknown:  # pydantic ignores unknown fields: a typo ('split-policy') would be saved as no change
        raise ConfigError(f"Unknown config field(s) {', '.join(map(repr, unknown))} "
                          f"(fields: {', '.join(ProjectConfig.model_fields)})")
    return data


CONFIG_OPTIONS = [
    click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
                 help="A JSON or YAML file of config fields (scale, aspects, overlap, guidelines, ...)."),
    click.option("--overlap", type=click.IntRange(min=1), help="Human labels wanted per item (k)."),
    click.option("--guidelines", help="Guidelines shown to annotators."),
    click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE",
                 help="One config field; VALUE is read as JSON when it parses, e.g. --set justification=required."),
]


def _with_config_options(fn):
    for option in reversed(CONFIG_OPTIONS):
        fn = option(fn)
    return fn


@projects_command.command("create")
@click.argument("name")
@click.option("--task-type", type=click.Choice(["pairwise", "rubric"]), default="pairwise", show_default=True)
@click.option("--criteria", "criteria_file", type=click.Path(exists=True, dir_okay=False),
              help="Rubric criteria, JSON or YAML: a list of {name, description, scores: {1: text, ...}} or "
                   "{name, scale: [0, 3]}, or {scale: '1-5', criteria: [...]}.")
@_with_config_options
@click.option("--json", "as_json", is_flag=True, help="Print the new project as JSON.")
@click.pass_context
def create_command(ctx, name, task_type, criteria_file, config_file, overlap, guidelines, sets, as_json) -> None:
    """Create a project (a rubric project needs --criteria)."""
    where = Path(criteria_file).name if criteria_file else "project config"
    if task_type == "rubric" and not criteria_file and not (config_file or any(s.startswith("criteria=") for s in sets)):
        raise ConfigError("A rubric project needs its criteria: --criteria FILE (JSON or YAML)")
    criteria = read_config_file(criteria_file) if criteria_file else None
    config = build_config(task_type, criteria, _extra(config_file, overlap, guidelines, sets), where)
    project = project_lib.create_project(_open_creating(ctx), name, config)
    if as_json:
        echo_json({"project": project.name, **project.config.model_dump()})
    else:
        click.echo(f"Created {task_type} project '{project.name}'" +
                   (f" with criteria {', '.join(project.config.aspect_names)}" if task_type == "rubric" else ""))


@projects_command.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show_command(ctx, name: str, as_json: bool) -> None:
    """A project's config, counts and config versions."""
    conn = open_db(ctx)
    project = project_lib.get_project(conn, name)
    status = project_lib.project_status(conn, name)
    history = project_lib.config_history(conn, name)
    data = {**status, "archived_at": project.archived_at, "config": project.config.model_dump(),
            "config_versions": [{"version": int(r.version), "created_at": r.created_at}
                                for r in history.itertuples()]}
    if as_json:
        echo_json(data)
        return
    for key, value in status.items():
        click.echo(f"{key:>13}: {value}")
    if project.archived_at is not None:
        click.echo(f"{'archived':>13}: {project.archived_at:%Y-%m-%d %H:%M} UTC")
    click.echo("config:")
    click.echo(json.dumps(project.config.model_dump(exclude={"task_type"}), indent=2, ensure_ascii=False))
    click.echo("config versions: " + ", ".join(f"{int(r.version)} ({r.created_at:%Y-%m-%d %H:%M} UTC)"
                                              for r in history.itertuples()))


@projects_command.command("edit")
@click.argument("name")
@click.option("--criteria", "criteria_file", type=click.Path(exists=True, dir_okay=False),
              help="Replace the rubric criteria (JSON or YAML, as for create).")
@_with_config_options
@click.pass_context
def edit_command(ctx, name, criteria_file, config_file, overlap, guidelines, sets) -> None:
    """Change a project's config; refused if stored labels would be orphaned or change meaning."""
    changes = _extra(config_file, overlap, guidelines, sets)
    if criteria_file:
        changes["criteria"] = parse_criteria(read_config_file(criteria_file), Path(criteria_file).name)
    if not changes:
        raise ConfigError("Nothing to change: give --criteria, --config, --overlap, --guidelines or --set")
    conn = open_db(ctx)
    project_lib.update_config(conn, name, changes)
    version = int(project_lib.config_history(conn, name)["version"].max())
    click.echo(f"Saved project '{name}' config as version {version}")


@projects_command.command("archive")
@click.argument("name")
@click.pass_context
def archive_command(ctx, name: str) -> None:
    """Hide a project from the app and the lists; every item and label is kept."""
    project_lib.archive_project(open_db(ctx), name, True)
    click.echo(f"Archived '{name}' (hidden; data kept). Undo: python -m annotate projects restore {name}")


@projects_command.command("restore")
@click.argument("name")
@click.pass_context
def restore_command(ctx, name: str) -> None:
    """Show an archived project again."""
    project_lib.archive_project(open_db(ctx), name, False)
    click.echo(f"Restored '{name}'")


@projects_command.command("delete")
@click.argument("name")
@click.option("--confirm", metavar="NAME", help="The project's name again (asked for when not given).")
@click.pass_context
def delete_command(ctx, name: str, confirm: str | None) -> None:
    """Delete a project with all its items, labels, judgments and routing (asks for the name)."""
    conn = open_db(ctx)
    project_lib.get_project(conn, name)
    if confirm is None:
        click.echo("This deletes every item, label and judgment of the project. Take a backup first: "
                   "python -m annotate backup --out DIR")
        confirm = click.prompt(f"Type the project's name ({name}) to delete it", default="", show_default=False)
    deleted = project_lib.delete_project(conn, name, confirm)
    click.echo(f"Deleted project '{name}': {deleted.get('items', 0)} items, {deleted.get('label_events', 0)} label "
               f"events, {deleted.get('judgments', 0)} judgments")
