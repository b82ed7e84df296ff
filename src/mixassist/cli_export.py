"""The ``export`` and ``import`` commands: a recipe as printed stems, a DAWproject session or a
REAPER project, and a
DAWproject (after the user's edits in the DAW) back into a recipe.  Registered on the app by
:mod:`mixassist.cli`; they parse, call :mod:`mixassist.api` and print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixassist.outputs import EXPORT_FORMATS
from mixassist.terminal import out, with_bar

__all__ = ["register"]


def export_command(
    recipe: Annotated[Path, typer.Argument(help="Recipe JSON to export.", show_default=False)],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Folder (stems), a .dawproject file (dawproject) or a .rpp file (reaper).",
            show_default=False,
        ),
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"What to write: {' or '.join(EXPORT_FORMATS)}.", show_default=False)
    ],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (never an input).")] = False,
) -> None:
    """Write RECIPE's mix as printed stems (every track after its strip, and the reverb return), as a
    DAWproject session that Bitwig Studio, Studio One and Cubase open, or as a REAPER project."""
    from mixassist.api import export  # lazy: numpy and torch, after the command line is read

    paths = with_bar(
        f"printing ({format})",
        lambda progress: export(recipe, output, format=format, overwrite=overwrite, progress=progress),
    )
    for path in paths.values():
        out.print(f"wrote {path}")


def import_command(
    session: Annotated[Path, typer.Argument(help="A .dawproject file.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Recipe JSON to write.", show_default=False)],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Read a DAWproject (ours, after your edits in the DAW) back into a recipe; the settings you changed
    there are locked in it."""
    from mixassist.api import import_dawproject  # lazy: numpy and torch, after the command line is read

    recipe, contents = import_dawproject(session, output, overwrite=overwrite)
    changed = sum(len(names) for names in contents.changed.values())
    out.print(f"wrote {output} ({len(recipe.params.track_names)} tracks; {changed} settings from the DAW locked)")


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``import`` to the ``mixassist`` command."""
    app.command("export")(export_command)
    app.command("import")(import_command)
