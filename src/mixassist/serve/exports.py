"""Exports from a session, made with the project's writers into the session's ``exports/``
folder: the recipe (stem paths absolute, so ``mixassist render`` reproduces the mix anywhere),
the full mix, the printed stems (zipped), the DAWproject and the REAPER project."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from mixassist.api import export, render
from mixassist.audio.io import save_audio
from mixassist.console.params import MixParams
from mixassist.recipe import Recipe
from mixassist.serve.store import ServeError, SessionState
from mixassist.session import write_recipe

__all__ = ["EXPORTS", "EXPORT_FOLDER", "session_recipe_of", "export_file"]

#: What a session exports: the name in the URL → its media type.
EXPORTS = {
    "recipe.json": "application/json",
    "mix.wav": "audio/wav",
    "stems.zip": "application/zip",
    "song.dawproject": "application/zip",
    "song.rpp": "text/plain",
}
#: The folder inside a session that holds its exports.
EXPORT_FOLDER = "exports"


def session_recipe_of(state: SessionState, folder: Path) -> Recipe:
    """The recipe of the session's current step (stems by absolute path)."""
    step = state.current
    return Recipe(
        sample_rate=state.sample_rate,
        files={n: Path(f) for n, f in state.files.items()},
        params=MixParams.from_dict(step.params),
        base_dir=folder,
        extra={"context": {**step.context, "session": state.id, "step": state.index}},
        why={k: dict(v) for k, v in step.why.items() if v},
        locked={k: list(v) for k, v in step.locked.items() if v},
        roles=dict(step.roles),
        right_files={n: Path(f) for n, f in state.right_files.items()},
    )


def export_file(state: SessionState, session_folder: Path, what: str) -> Path:
    """Write ``what`` (a key of :data:`EXPORTS`) for the current step and return its path."""
    if what not in EXPORTS:
        raise ServeError(f"export '{what[:40]}': choose one of {', '.join(EXPORTS)}", 404)
    folder = session_folder / EXPORT_FOLDER
    folder.mkdir(exist_ok=True)
    recipe = session_recipe_of(state, folder)
    recipe_path = folder / "recipe.json"
    write_recipe(recipe_path, recipe, folder)
    if what == "recipe.json":
        return recipe_path
    if what == "mix.wav":
        result = render(recipe.load_stems(), recipe.params)
        save_audio(folder / what, result.mix, result.sample_rate, 24)
        return folder / what
    if what == "stems.zip":
        paths = export(recipe_path, folder / "stems", format="stems", overwrite=True)
        target = folder / what
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(paths["printed"].glob("*.wav")):
                zf.write(path, f"printed/{path.name}")
            zf.writestr("recipe.json", json.dumps(recipe.to_dict(), indent=2, allow_nan=False))
        return target
    fmt = "dawproject" if what.endswith(".dawproject") else "reaper"
    paths = export(recipe_path, folder / what, format=fmt, overwrite=True)
    return next(iter(paths.values()))
