"""What ``mixassist serve`` refuses (issue 22): paths outside the folders named on the command line
(``..``, absolute paths elsewhere, symlinks out), oversized, too many and non-audio uploads, hostile
file names, and state-changing requests from another site (Origin) or another host name.  Each is
refused with one line naming the thing and the reason, and nothing is ever written outside the
session folders (a snapshot of everything else is compared at the end)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")

from cli_runner import run_cli  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from mixassist.serve import Limits, create_app  # noqa: E402
from mixassist.serve.workbench import Gate  # noqa: E402

SR = 22050


def _wav_bytes(seconds: float = 2.0, freq: float = 220.0) -> bytes:
    t = np.arange(int(seconds * SR)) / SR
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            continue
        for name in filenames + dirnames:
            p = Path(dirpath) / name
            if p == skip:
                continue
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("serve-security")
    stems, outside, linked = root / "stems", root / "outside", root / "linked"
    for folder in (stems, outside, linked):
        folder.mkdir()
    (stems / "tone.wav").write_bytes(_wav_bytes())
    (stems / "low.wav").write_bytes(_wav_bytes(freq=110.0))
    (outside / "secret.wav").write_bytes(_wav_bytes())
    (outside / "secret.txt").write_text("not for the page\n")
    (linked / "tone.wav").write_bytes(_wav_bytes())
    (linked / "leak.wav").symlink_to(outside / "secret.wav")
    (stems / "escape").symlink_to(outside, target_is_directory=True)
    workspace = root / "workspace"
    limits = Limits(max_files=3, max_file_bytes=200_000, max_total_bytes=500_000)
    app = create_app(workspace, allowed_roots=[stems, linked], limits=limits)
    before = _snapshot(root, workspace)
    client = TestClient(app)
    files = [
        ("files[]", ("../../evil name!.wav", _wav_bytes(), "audio/wav")),
        ("files[]", ("/etc/passwd.wav", _wav_bytes(freq=330.0), "audio/wav")),
    ]
    made = client.post("/api/sessions/upload", files=files, data={"method": "neural"})
    assert made.status_code == 201, made.text
    return {
        "root": root,
        "stems": stems,
        "outside": outside,
        "linked": linked,
        "workspace": workspace,
        "client": client,
        "before": before,
        "id": made.json()["id"],
        "state": made.json(),
    }


def _refused(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message
    return message


def test_an_upload_stores_files_under_safe_names_inside_the_session(guarded):
    folder = guarded["workspace"] / guarded["id"] / "uploads"
    assert sorted(p.name for p in folder.iterdir()) == ["evil-name.wav", "passwd.wav"]
    assert [t["name"] for t in guarded["state"]["tracks"]] == ["evil-name", "passwd"]
    assert not (guarded["root"] / "evil name!.wav").exists()


@pytest.mark.parametrize(
    "path, words",
    [
        ("{stems}/../outside", ["'..' is not allowed"]),
        ("{outside}", ["outside the folders"]),
        ("/etc", ["outside the folders"]),
        ("stems", ["must be absolute"]),
        ("{stems}/escape", ["outside the folders"]),  # a link inside an allowed folder, out of it
        ("{linked}", ["leak.wav", "outside the folders"]),  # a stem that links out
    ],
)
def test_paths_outside_the_named_folders_are_refused(guarded, path, words):
    text = path.format(**{k: guarded[k] for k in ("stems", "outside", "linked")})
    _refused(guarded["client"].post("/api/sessions", json={"stems": text}), 403, *words)


def test_references_outside_are_refused_on_create_and_on_re_solve(guarded):
    client, secret = guarded["client"], str(guarded["outside"] / "secret.wav")
    _refused(client.post("/api/sessions", json={"stems": str(guarded["stems"]), "reference": [secret]}), 403, secret)
    _refused(client.post(f"/api/sessions/{guarded['id']}/solve", json={"reference": [secret]}), 403, "outside")


@pytest.mark.parametrize(
    "files, status, words",
    [
        (
            [("files[]", ("song.wav", b"RIFF....WAVEnot really audio" * 10, "audio/wav"))],
            415,
            ["song.wav", "not audio"],
        ),
        ([("files[]", ("notes.txt", b"hello", "text/plain"))], 415, ["notes.txt", "not an audio file name"]),
        ([("files[]", ("big.wav", _wav_bytes(6.0), "audio/wav"))], 413, ["big.wav", "per file"]),
        ([("files[]", (f"t{k}.wav", _wav_bytes(), "audio/wav")) for k in range(4)], 413, ["more than 3 files"]),
        ([("files[]", (f"t{k}.wav", _wav_bytes(4.0), "audio/wav")) for k in range(3)], 413, ["in all"]),
        ([("stems", ("a.wav", _wav_bytes(), "audio/wav"))], 400, ["files[]"]),
    ],
)
def test_bad_uploads_are_refused_and_leave_no_session_behind(guarded, files, status, words):
    sessions = sorted(p.name for p in guarded["workspace"].iterdir())
    _refused(guarded["client"].post("/api/sessions/upload", files=files), status, *words)
    assert sorted(p.name for p in guarded["workspace"].iterdir()) == sessions


def test_the_size_limit_holds_while_the_body_streams_in(guarded):
    """A chunked upload declares no length: the limit is enforced on the bytes as they arrive."""
    body = (
        b'--b0\r\nContent-Disposition: form-data; name="files[]"; filename="long.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n" + _wav_bytes(6.0) + b"\r\n--b0--\r\n"
    )
    chunks = (body[a : a + 32768] for a in range(0, len(body), 32768))
    headers = {"content-type": "multipart/form-data; boundary=b0"}
    sessions = sorted(p.name for p in guarded["workspace"].iterdir())
    _refused(
        guarded["client"].post("/api/sessions/upload", content=chunks, headers=headers), 413, "long.wav", "per file"
    )
    assert sorted(p.name for p in guarded["workspace"].iterdir()) == sessions


def test_hostile_multipart_bodies_and_ranges_are_refused_quickly(guarded):
    """The published denial-of-service requests: a part with thousands of headers, a body that
    never closes its part, and a Range header of thousands of ranges (Starlette's CVE-2025-62727)."""
    client, headers = guarded["client"], {"content-type": "multipart/form-data; boundary=b0"}
    many = b"--b0\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\nabc\r\n--b0--\r\n"
    _refused(client.post("/api/sessions/upload", content=many, headers=headers), 400, "header count")
    open_part = b'--b0\r\nContent-Disposition: form-data; name="files[]"; filename="a.wav"\r\n\r\n' + _wav_bytes()
    _refused(client.post("/api/sessions/upload", content=open_part, headers=headers), 400, "closing boundary")
    client.get(f"/api/sessions/{guarded['id']}/export/recipe.json")  # (written into the session's folder)
    ranges = "bytes=" + ",".join(f"{k}-{k}" for k in range(0, 20000, 2))
    started = time.perf_counter()
    answer = client.get(f"/api/sessions/{guarded['id']}/export/recipe.json", headers={"Range": ranges})
    assert answer.status_code in (200, 206, 416) and time.perf_counter() - started < 5.0


def test_a_foreign_origin_may_not_change_a_session(guarded):
    client, sid = guarded["client"], guarded["id"]
    edit = {"section": "track", "track": "passwd", "param": "gain_db", "value": -3.0}
    evil = {"Origin": "http://evil.example"}
    _refused(client.patch(f"/api/sessions/{sid}/params", json=edit, headers=evil), 403, "evil.example")
    _refused(client.post(f"/api/sessions/{sid}/undo", headers=evil), 403, "Origin")
    _refused(client.post(f"/api/sessions/{sid}/undo", headers={"Sec-Fetch-Site": "cross-site"}), 403, "cross-site")
    assert client.get(f"/api/sessions/{sid}").json()["history"]["length"] == 1  # nothing changed
    assert client.get(f"/api/sessions/{sid}", headers=evil).status_code == 200  # reading is harmless
    ours = client.patch(f"/api/sessions/{sid}/params", json=edit, headers={"Origin": "http://testserver"})
    assert ours.status_code == 200 and ours.json()["history"]["length"] == 2


def test_ids_and_static_names_cannot_reach_other_files(guarded):
    client = guarded["client"]
    _refused(client.get("/api/sessions/..%2F..%2Fetc%2Fpasswd"), 404, "no such page")
    _refused(client.get("/api/sessions/x..y"), 404, "not a session id")
    _refused(client.get("/api/sessions/0123456789ab"), 404, "no such session")
    _refused(client.get("/static/..%2F..%2F..%2Fpyproject.toml"), 404, "no such page")
    _refused(client.get(f"/api/sessions/{guarded['id']}/export/..%2Fstate.json"), 404, "no such page")
    _refused(client.get(f"/api/sessions/{guarded['id']}/export/state.json"), 404, "choose one of")


def test_a_request_that_waits_too_long_for_a_render_is_answered_503(guarded):
    bench = guarded["client"].app.state.workbench
    gate, bench.lock = bench.lock, Gate(wait_s=0.05)
    try:
        with bench.lock:  # a render in progress (the app answers on another thread)
            busy = guarded["client"].get(f"/api/sessions/{guarded['id']}")
    finally:
        bench.lock = gate
    _refused(busy, 503, "busy")


def test_another_host_name_is_refused_when_bound_to_loopback(guarded):
    app = create_app(guarded["workspace"], allowed_roots=[], allowed_hosts=["127.0.0.1:8765", "localhost:8765"])
    _refused(TestClient(app).get("/api/sessions"), 403, "testserver")  # DNS rebinding


def test_the_command_warns_off_loopback_and_refuses_a_missing_folder(guarded, monkeypatch, tmp_path):
    import uvicorn  # lazy: only to stub its run

    ran = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.append(kw))
    result = run_cli("serve", "--host", "0.0.0.0", "--no-browser", "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 0, result.stderr
    assert "warning: listening on 0.0.0.0" in result.stderr and result.stdout.strip() == "http://0.0.0.0:8765/"
    assert ran == [{"host": "0.0.0.0", "port": 8765, "log_level": "warning"}]
    missing = run_cli("serve", str(tmp_path / "nope"), "--no-browser", "--workspace", str(tmp_path / "ws"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no such folder" in missing.stderr
    opened = [
        run_cli(
            "serve", str(guarded["stems"]), "--method", "neural", "--no-browser", "--workspace", str(tmp_path / "ws")
        )
        for _ in range(2)
    ]
    assert all(r.returncode == 0 for r in opened), opened[0].stderr
    assert opened[0].stdout.startswith("http://localhost:8765/?session=")
    assert opened[1].stdout == opened[0].stdout  # the folder's session is reopened, not proposed again
    assert ran[-1] == {"host": "127.0.0.1", "port": 8765, "log_level": "warning"}


def test_nothing_was_written_outside_the_session_folders(guarded):
    """Runs last: every file outside the workspace is as it was, and the workspace holds only session folders."""
    assert _snapshot(guarded["root"], guarded["workspace"]) == guarded["before"]
    for entry in guarded["workspace"].iterdir():
        assert entry.is_dir() and len(entry.name) == 12
