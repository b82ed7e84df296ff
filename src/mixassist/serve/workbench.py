"""The assistive loop on sessions: propose with a mixer, edit a setting, lock and unlock,
re-solve the rest under the locks, undo and redo, export.  Every change is one step of the
session's history (:mod:`mixassist.serve.store`), saved before the answer goes back."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mixassist.api import METHODS, mix
from mixassist.audio.multitrack import load_multitrack
from mixassist.console.params import MixParams, check_name
from mixassist.errors import MixAssistError
from mixassist.previews import loudest_section, raw_sum
from mixassist.recipe import Recipe
from mixassist.serve.render import DEFAULT_EXCERPT_S, Excerpts, eq_curve
from mixassist.serve.security import audio_files, confine
from mixassist.serve.store import ServeError, SessionState, SessionStore, Step, now_iso
from mixassist.serve.view import state_view

__all__ = ["BUSES", "Gate", "Workbench"]

#: Sessions whose stems and renders stay in memory (the others are read again when opened).
LOADED_SESSIONS = 4
#: The sections that are not tracks.
BUSES = ("master", "reverb")


class Gate:
    """One render or change at a time (the renders share each session's caches); a request that
    waits longer than ``wait_s`` is answered 503 rather than queueing without end."""

    def __init__(self, wait_s: float = 120.0) -> None:
        self.wait_s = wait_s
        self._lock = threading.RLock()

    def __enter__(self) -> None:
        if not self._lock.acquire(timeout=self.wait_s):
            raise ServeError(f"the server has been busy with another render for {self.wait_s:g} s; try again", 503)

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class Workbench:
    """Sessions in ``workspace``; files readable inside ``allowed_roots`` and the sessions' own folders."""

    def __init__(self, workspace: Path, allowed_roots: list[Path]) -> None:
        self.store = SessionStore(workspace)
        self.roots = [Path(r).resolve() for r in allowed_roots]
        self.lock = Gate()
        self.loaded: dict[str, Excerpts] = {}
        #: Seconds the ``match`` solver may spend on each variation.
        self.variation_budget_s = 5.0

    # ------------------------------------------------------------------ reading
    def roots_for(self, sid: str) -> list[Path]:
        return [*self.roots, self.store.folder(sid).resolve()]

    def excerpts(self, state: SessionState) -> Excerpts:
        """The session's stems and renders (loaded on first use, also after a restart), with the
        references of its current step (an undo past a re-solve brings the old ones back)."""
        refs = list(state.current.context.get("reference", state.references))
        if state.id not in self.loaded:
            recipe = Recipe(
                sample_rate=state.sample_rate,
                files={n: Path(f) for n, f in state.files.items()},
                params=MixParams(list(state.files)),
                right_files={n: Path(f) for n, f in state.right_files.items()},
            )
            self.keep(state.id, Excerpts(recipe.load_stems(), refs))
        self.loaded[state.id] = self.loaded.pop(state.id)  # (most recently used last)
        self.loaded[state.id].set_references(refs)
        return self.loaded[state.id]

    def keep(self, sid: str, excerpts: Excerpts) -> None:
        """Hold session ``sid``'s stems and renders; the longest unused beyond :data:`LOADED_SESSIONS` go."""
        self.loaded[sid] = excerpts
        while len(self.loaded) > LOADED_SESSIONS:
            del self.loaded[next(iter(self.loaded))]

    def view(self, state: SessionState) -> dict[str, Any]:
        with self.lock:
            return state_view(state, self.excerpts(state))

    def sessions(self) -> list[dict[str, Any]]:
        out = []
        for sid in self.store.ids():
            s = self.store.load(sid)
            out.append({"id": s.id, "name": s.name, "created": s.created, "tracks": len(s.files)})
        return out

    # ------------------------------------------------------------------ creating
    def create_from_paths(
        self, stems: str, references: list[str], words: str | None, method: str | None
    ) -> SessionState:
        """A session from a stems folder (or file) inside the allowed folders, proposed by ``method``."""
        root = confine(stems, self.roots, "stems folder")
        files = audio_files(root, self.roots)
        refs = [confine(r, self.roots, "reference") for r in references]
        sid = self.store.new_id()
        return self._create(sid, files, refs, words, method, stems_root=str(root), name=root.name)

    def create_from_upload(
        self, sid: str, stems: list[Path], references: list[Path], words: str | None, method: str | None
    ) -> SessionState:
        return self._create(sid, stems, references, words, method, stems_root=None, name=f"upload {sid}")

    def _create(
        self,
        sid: str,
        files: list[Path],
        references: list[Path],
        words: str | None,
        method: str | None,
        *,
        stems_root: str | None,
        name: str,
    ) -> SessionState:
        _check_method(method)
        try:
            multitrack = load_multitrack(files)
            result = mix(
                multitrack,
                method=method or None,
                reference=[str(r) for r in references] or None,
                describe=words or None,
            )
        except MixAssistError:
            shutil.rmtree(self.store.folder(sid), ignore_errors=True)
            raise
        step = Step(
            f"proposal ({_method_of(result.recipe.extra)})",
            result.params.to_dict(),
            why=_plain(result.recipe.why),
            locked={},
            roles=dict(result.recipe.roles),
            context=_context(result.recipe.extra, result.measured, words, [str(r) for r in references]),
            proposed=result.params.to_dict(),
        )
        start = loudest_section(raw_sum(list(multitrack)), multitrack.sample_rate, DEFAULT_EXCERPT_S)
        state = SessionState(
            id=sid,
            name=name,
            created=now_iso(),
            sample_rate=multitrack.sample_rate,
            seconds=round(multitrack.duration_s, 3),
            files={t.name: str(Path(t.source).resolve()) for t in multitrack if t.source is not None},
            right_files={t.name: str(Path(t.source_right).resolve()) for t in multitrack if t.source_right is not None},
            stems_root=stems_root,
            references=[str(r) for r in references],
            history=[step],
            index=0,
            excerpt_start_s=round(start / multitrack.sample_rate, 3),
        )
        with self.lock:
            self.store.save(state)
            self.keep(sid, Excerpts(multitrack, list(state.references)))
        return state

    # ------------------------------------------------------------------ changing
    def change(self, sid: str, make: Callable[[SessionState], None]) -> SessionState:
        """Load session ``sid``, apply ``make`` to it, save it; one at a time."""
        with self.lock:
            state = self.store.load(sid)
            make(state)
            self.store.save(state)
            return state

    def edit(self, sid: str, section: str, track: str | None, param: str, value: Any) -> SessionState:
        def make(state: SessionState) -> None:
            owner = _owner(state, section, track)
            params = MixParams.from_dict(state.current.params)
            if section == "track":
                params.set(owner, param, value)
            else:
                params.set_bus(owner, param, value)
            step = _next(state, f"set {owner}.{param}", params=params.to_dict())
            shown = params.value(owner, param)
            step.why.setdefault(owner, {})[param] = f"set by you to {'off' if shown is None else f'{shown:g}'}"
            state.push(step)

        return self.change(sid, make)

    def set_lock(self, sid: str, section: str, track: str | None, param: str, locked: bool) -> SessionState:
        def make(state: SessionState) -> None:
            owner = _owner(state, section, track)
            check_name(param, section, owner)
            step = _next(state, f"{'lock' if locked else 'unlock'} {owner}.{param}")
            names = [p for p in step.locked.get(owner, []) if p != param] + ([param] if locked else [])
            step.locked = {k: v for k, v in {**step.locked, owner: names}.items() if v}
            state.push(step)

        return self.change(sid, make)

    def solve(self, sid: str, words: str | None, references: list[str] | None, method: str | None) -> SessionState:
        """Re-solve everything not locked with the session's (or the given) context."""
        _check_method(method)
        with self.lock:  # (loaded inside: an edit cannot slip in between and be lost)
            state = self.store.load(sid)
            current = state.current
            refs = (
                [str(confine(r, self.roots_for(sid), "reference")) for r in references]
                if references is not None
                else list(current.context.get("reference", []))
            )
            words = current.context.get("words", "") if words is None else words
            method = method or current.context.get("method") or None
            locks = [f"{owner}.{p}" for owner, names in current.locked.items() for p in names]
            excerpts = self.excerpts(state)
            result = mix(
                excerpts.multitrack,
                method=method,
                start=MixParams.from_dict(current.params),
                lock=locks,
                reference=refs or None,
                describe=words or None,
            )
            step = _next(state, f"re-solve ({_method_of(result.recipe.extra)})", params=result.params.to_dict())
            step.why = _plain(result.recipe.why)
            step.context = _context(result.recipe.extra, result.measured, words, refs)
            step.proposed = result.params.to_dict()
            state.references = refs
            state.variations = []
            state.push(step)
            self.store.save(state)
        return state

    def move(self, sid: str, by: int) -> SessionState:
        """Undo (``by=-1``) or redo (``+1``)."""

        def make(state: SessionState) -> None:
            target = state.index + by
            if not 0 <= target < len(state.history):
                raise ServeError(f"nothing to {'undo' if by < 0 else 'redo'}", 409)
            state.index = target

        return self.change(sid, make)

    def params(self, state: SessionState) -> MixParams:
        return MixParams.from_dict(state.current.params)

    def eq(self, sid: str, section: str, track: str | None) -> dict[str, list[float]]:
        """The EQ curve of a track (its high-pass, bands and shelves) or of the master."""
        state = self.store.load(sid)
        owner = _owner(state, section, track)
        if owner == "reverb":
            raise ServeError("the reverb bus has no EQ; ask for a track or the master")
        params = self.params(state)
        values = params.tracks[owner] if section == "track" else params.master
        return eq_curve(values, state.sample_rate, hpf=section == "track")


def _next(state: SessionState, label: str, *, params: dict[str, Any] | None = None) -> Step:
    """A copy of the current step under a new label (and new parameters)."""
    cur = state.current
    return Step(
        label,
        params if params is not None else cur.params,
        why={k: dict(v) for k, v in cur.why.items()},
        locked={k: list(v) for k, v in cur.locked.items()},
        roles=dict(cur.roles),
        context=dict(cur.context),
        proposed=cur.proposed,
    )


def _owner(state: SessionState, section: str, track: str | None) -> str:
    if section == "track":
        if track not in state.files:
            raise ServeError(f"track {str(track)[:40]!r}: no such track (tracks: {', '.join(state.files)})", 404)
        return str(track)
    if section in BUSES:
        return section
    raise ServeError(f"section={section[:20]!r}: use track, master or reverb")


def _check_method(method: str | None) -> None:
    if method not in (None, "", *METHODS):
        raise ServeError(f"method={str(method)[:20]!r}: use one of {', '.join(METHODS)}")


def _method_of(extra: dict[str, Any]) -> str:
    return str((extra.get("context") or {}).get("method") or "rules")


def _context(extra: dict[str, Any], measured: dict[str, Any], words: str | None, refs: list[str]) -> dict[str, Any]:
    """What a proposal was made under: words, method, references, and the loudness it was delivered at."""
    return {
        "words": words or "",
        "method": _method_of(extra),
        "reference": refs,
        "loudness_lufs": measured.get("integrated_lufs"),
    }


def _plain(why: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {k: dict(v) for k, v in why.items()}
