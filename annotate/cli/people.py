"""Accounts: annotators add / list / deactivate / reset-token."""
from __future__ import annotations

import click

from annotate.cli.base import Group, cli, open_db
from annotate.labeling import annotators as annotator_lib

@cli.group("annotators", cls=Group)
def annotators_group() -> None:
    """Manage annotators and their invite links."""


@annotators_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(annotator_lib.ROLES), default="annotator", show_default=True)
@click.pass_context
def annotators_add(ctx, name: str, role: str) -> None:
    """Create an annotator and print the invite link (shown only once).

    The link starts at the address the app is served on unless $ANNOTATE_BASE_URL is set.
    """
    annotator, token = annotator_lib.add_annotator(open_db(ctx), name, role)
    click.echo(annotator_lib.shown_once(f"Created {annotator['role']} '{annotator['name']}'. Invite link"))
    click.echo(annotator_lib.invite_link(token))


@annotators_group.command("list")
@click.pass_context
def annotators_list(ctx) -> None:
    """List annotators (never their tokens)."""
    frame = annotator_lib.list_annotators(open_db(ctx))
    click.echo(frame.to_string(index=False) if len(frame) else "No annotators yet.")


@annotators_group.command("deactivate")
@click.argument("name")
@click.pass_context
def annotators_deactivate(ctx, name: str) -> None:
    """Deactivate an annotator: the invite link stops working and open sessions end; labels stay."""
    annotator_lib.set_active(open_db(ctx), name, False)
    click.echo(f"Deactivated '{name}'; their open sessions have ended.")


@annotators_group.command("reset-token")
@click.argument("name")
@click.pass_context
def annotators_reset_token(ctx, name: str) -> None:
    """Revoke an annotator's invite link, end their open sessions and print a new link (shown once).

    While the app runs it holds the database: use its Annotators page instead.
    """
    token = annotator_lib.reset_token(open_db(ctx), name)
    click.echo(annotator_lib.shown_once(f"New invite link for '{name}'; the old one no longer works. Link"))
    click.echo(annotator_lib.invite_link(token))
