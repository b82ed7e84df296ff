"""Outputs as a set: staged and swapped in together; write faults are one line naming the path,
leave the previous outputs whole and no temporaries; stale temporaries of killed runs are cleaned;
SIGINT/SIGTERM are one line; files get the user's umask (RELIABILITY.md 25, 25a-c)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixassist import OutputError, fileio
from mixassist import api as api_module
from mixassist import session as session_module
from mixassist.api import MixResult, check_mix_outputs
from mixassist.audio.multitrack import Multitrack, load_multitrack
from mixassist.console.params import MixParams
from mixassist.fileio import FILE_MODE, check_output_folder, clean_stale_temporaries
from mixassist.mixers.decisions import Proposal, Reasons
from mixassist.recipe import Recipe

SR = 22050
SET = {"mix.wav", "recipe.json", "report.md", "report.html"}  # report.html: issue 21


def _stems(folder: Path) -> list[Path]:
    folder.mkdir(exist_ok=True)
    t = np.arange(SR // 2) / SR
    paths = [folder / "a.wav", folder / "b.wav"]
    sf.write(paths[0], (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR)
    sf.write(paths[1], (0.1 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), SR)
    return paths


def _result(tmp_path: Path, *, lufs: float, arrays: bool = False) -> MixResult:
    """A small MixResult built directly (no mixer run): neutral settings, a tagged recipe."""
    if arrays:
        multitrack = Multitrack.from_arrays({"a": np.zeros((1, SR // 2), np.float32)}, SR)
        files = {"a": Path("stems/a.wav")}
        stem_audio = {"a": multitrack["a"].audio}
    else:
        multitrack = load_multitrack(_stems(tmp_path / "stems"))
        files = {t.name: Path(os.path.relpath(t.source, Path.cwd())) for t in multitrack}
        stem_audio = {}
    params = MixParams(multitrack.names)
    recipe = Recipe(SR, files, params, base_dir=Path.cwd(), extra={"context": {"loudness_lufs": lufs}})
    proposal = Proposal(params, Reasons(), {}, {}, {"loudness_lufs": lufs})
    mix = np.full((2, SR // 2), 10 ** (lufs / 20), np.float32)
    return MixResult(mix, SR, proposal, recipe, {"integrated_lufs": lufs}, stem_audio)


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*")]


def _can_deny_writes(folder: Path) -> bool:
    """chmod stops writes only for a user other than root (CI runs as root)."""
    folder.chmod(0o555)
    try:
        (folder / "probe").write_bytes(b"")
    except PermissionError:
        return True
    else:
        (folder / "probe").unlink()
        return False
    finally:
        folder.chmod(0o755)


# ---------------------------------------------------------------------------- the swap
def test_overwrite_replaces_the_whole_set_and_keeps_the_users_files(tmp_path):
    out = tmp_path / "out"
    _result(tmp_path, lufs=-14.0).save(out)
    (out / "style.png").write_bytes(b"an old plot of ours")
    (out / "notes.txt").write_bytes(b"the user's")
    _result(tmp_path, lufs=-20.0).save(out, overwrite=True)
    files = _contents(out)
    assert set(files) == SET | {"notes.txt"}  # the old plot went with the old set
    assert json.loads(files["recipe.json"])["context"]["loudness_lufs"] == -20.0
    assert sf.read(out / "mix.wav")[0][0, 0] == pytest.approx(0.1, abs=1e-3)  # the -20 dB mix
    assert files["notes.txt"] == b"the user's" and _hidden(out) == []


def test_full_disk_after_part_of_the_set_keeps_the_previous_set(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _result(tmp_path, lufs=-14.0).save(out)
    before = _contents(out)

    def full(path, *args, **kwargs):  # the report comes after the mix and the recipe
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(session_module, "write_text_atomic", full)
    with pytest.raises(OutputError, match="no space left on device") as caught:
        _result(tmp_path, lufs=-20.0).save(out, overwrite=True)
    assert str(out) in str(caught.value) and "\n" not in str(caught.value)
    assert _contents(out) == before and _hidden(out) == []
    fresh = tmp_path / "fresh" / "deeper"
    with pytest.raises(OutputError, match="no space left"):
        _result(tmp_path, lufs=-20.0).save(fresh)
    assert not (tmp_path / "fresh").exists()  # no orphan mix.wav, no empty folders


def test_soundfile_short_write_on_a_full_disk_is_named(tmp_path, monkeypatch):
    result = _result(tmp_path, lufs=-14.0)

    def short(self, data):
        raise AssertionError  # what soundfile raises when fewer frames were written

    monkeypatch.setattr(sf.SoundFile, "write", short)
    monkeypatch.setattr("shutil.disk_usage", lambda path: type("U", (), {"free": 0})())
    with pytest.raises(OutputError, match="no space left on device"):
        result.save(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_failed_rename_mid_swap_restores_the_old_set(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _result(tmp_path, lufs=-14.0).save(out)
    before = _contents(out)
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if Path(dst).parent == out and Path(dst).name == "recipe.json" and "new" in Path(src).parts[-2:]:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(src, dst)

    monkeypatch.setattr(fileio.os, "replace", flaky)
    with pytest.raises(OutputError, match="cannot write"):
        _result(tmp_path, lufs=-20.0).save(out, overwrite=True)
    assert any(Path(d).name == "mix.wav" and Path(d).parent == out for d in calls)  # mix was swapped in, then back
    assert _contents(out) == before and _hidden(out) == []


def test_array_stems_are_part_of_the_set(tmp_path):
    paths = _result(tmp_path, lufs=-14.0, arrays=True).save(tmp_path / "out")
    assert (tmp_path / "out" / "stems" / "a.wav").is_file()
    recipe = Recipe.load(paths["recipe"])
    assert recipe.resolve("a").resolve() == (tmp_path / "out" / "stems" / "a.wav").resolve()


def test_kill_9_mid_swap_is_finished_by_the_next_run_and_leftovers_cleaned(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    out = tmp_path / "out"
    out.mkdir()
    (out / "recipe.json").write_text("old")  # swapped already: mix.wav moved aside, new one not yet in
    staging = out / f".mixassist-{pid}-abc.tmp"
    (staging / "new").mkdir(parents=True)
    (staging / "old").mkdir()
    (staging / "old" / "mix.wav").write_text("old")
    for name in ("mix.wav", "report.md"):
        (staging / "new" / name).write_text("new")
    (staging / "commit.json").write_text(json.dumps(["mix.wav", "report.md"]))
    unstarted = out / f".mixassist-{pid}-def.tmp"  # killed while writing: no journal
    (unstarted / "new").mkdir(parents=True)
    (unstarted / "new" / "recipe.json").write_text("half")
    legacy_old = out / ".mix.wav.k3j2h1gf.tmp"  # an older version's temporary, long abandoned
    legacy_old.write_bytes(b"x")
    os.utime(legacy_old, (time.time() - 3600, time.time() - 3600))
    legacy_new = out / ".mix.wav.zzzzzzzz.tmp"  # could still be being written
    legacy_new.write_bytes(b"x")
    tagged = out / f".report.md.mixassist-{pid}-q1w2.tmp"
    tagged.write_bytes(b"x")
    assert clean_stale_temporaries(out, ["mix.wav", "report.md"]) == 4
    assert _hidden(out) == [legacy_new.name]
    legacy_new.unlink()
    assert _contents(out) == {"mix.wav": b"new", "recipe.json": b"old", "report.md": b"new"}


# ---------------------------------------------------------------------------- write faults
def test_folder_in_the_way_is_refused_before_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_mix_outputs(tmp_path / "file" / "sub")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        check_mix_outputs(tmp_path / "file")


def test_long_names(tmp_path):
    from mixassist import save_audio

    name = "n" * 245 + ".wav"  # 249 characters: fits, although its temporary name would not
    save_audio(tmp_path / name, np.zeros((1, 10)), SR)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    with pytest.raises(OutputError, match="too long"):
        check_output_folder(tmp_path / ("d" * 300))
    with pytest.raises(OutputError, match="more than the 255 this file system allows"):
        check_output_folder(tmp_path / "new", ["n" * 300 + ".wav"])
    with pytest.raises(OutputError, match="file name too long"):
        save_audio(tmp_path / ("n" * 300 + ".wav"), np.zeros((1, 10)), SR)
    assert len(list(tmp_path.iterdir())) == 1


def test_read_only_folder_is_one_line_and_keeps_the_old_set(tmp_path):
    out = tmp_path / "out"
    _result(tmp_path, lufs=-14.0).save(out)
    before = _contents(out)
    if not _can_deny_writes(out):
        pytest.skip("running as root: chmod does not stop writes")
    out.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            check_mix_outputs(out, overwrite=True)
        with pytest.raises(OutputError, match="permission denied"):
            _result(tmp_path, lufs=-20.0).save(out, overwrite=True)
    finally:
        out.chmod(0o755)
    assert _contents(out) == before and _hidden(out) == []


def test_free_space_is_checked_when_the_size_is_known(tmp_path):
    with pytest.raises(OutputError, match="MB are free"):
        check_mix_outputs(tmp_path / "out", needed_bytes=1 << 62)
    assert not (tmp_path / "out").exists()


def test_errno_reasons():
    for code, words in [
        (errno.EACCES, "permission denied"),
        (errno.EPERM, "read-only or immutable"),
        (errno.ENOTDIR, "not a folder"),
        (errno.ENAMETOOLONG, "too long"),
        (errno.ENOSPC, "no space left"),
    ]:
        message = str(fileio.output_error(OSError(code, os.strerror(code)), "/x/out"))
        assert message.startswith("/x/out: cannot write: ") and words in message


# ---------------------------------------------------------------------------- file modes
def test_files_get_the_umask(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    assert FILE_MODE == 0o666 & ~mask
    code = (
        "import os, sys; os.umask(0o027); import numpy as np; from mixassist import save_audio;"
        "save_audio(sys.argv[1], np.zeros((1, 10)), 22050, overwrite=True)"
    )
    target = tmp_path / "m.wav"
    target.write_bytes(b"old")
    target.chmod(0o644)
    subprocess.run([sys.executable, "-c", code, str(target)], check=True, timeout=120)
    assert target.stat().st_mode & 0o777 == 0o640
    code = code.replace("0o027", "0o022")
    subprocess.run([sys.executable, "-c", code, str(target)], check=True, timeout=120)
    assert target.stat().st_mode & 0o777 == 0o644  # overwriting a 0644 file keeps 0644


# ---------------------------------------------------------------------------- signals
def test_sigterm_while_writing_is_one_line_and_keeps_the_old_set(tmp_path, monkeypatch, capsys):
    from mixassist import cli

    out = tmp_path / "out"
    _result(tmp_path, lufs=-14.0).save(out)
    before = _contents(out)
    stems = _stems(tmp_path / "stems")

    def term_while_writing(path, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends

    # the command imports ``mix`` from the API when it runs (after its output checks)
    monkeypatch.setattr(api_module, "mix", lambda multitrack, request, progress=None: _result(tmp_path, lufs=-20.0))
    monkeypatch.setattr(session_module, "write_text_atomic", term_while_writing)
    # what was installed before (SIG_DFL, or another library's handler: ray.init installs one in the
    # test process when test_batch ran first) is what main must put back
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["mix", *map(str, stems), "-o", str(out), "--overwrite"])
    assert stopped.value.code == 143
    assert capsys.readouterr().err.strip().splitlines() == ["mixassist: terminated"]
    assert _contents(out) == before and _hidden(out) == []
    assert signal.getsignal(signal.SIGTERM) is previous  # main put the handlers back


def test_sigint_in_a_real_process_is_one_line_exit_130(tmp_path):
    stems = _stems(tmp_path / "stems")
    out = tmp_path / "out"
    ready = tmp_path / "ready"
    code = "import sys, pathlib, mixassist.cli as c; pathlib.Path(sys.argv[1]).touch(); c.main(sys.argv[2:])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(ready), "mix", *map(str, stems), "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # inside main, loading or mixing
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["mixassist: interrupted"]
    assert not out.exists() or (list(out.iterdir()) == [])
