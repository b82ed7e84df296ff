#!/usr/bin/env python3
"""How fast the browser console of ``mixassist serve`` answers (issue 22), in real headless Chromium.

The session: **16 stereo tracks × 30 s at 44.1 kHz** (``--tracks``, ``--seconds``), the material of
``console_speed.py`` (the demo stems looped; repeats start 3.7 s later) written as WAV files, with
the demo's reference, proposed by the rules (``--method``). The server is ``create_app`` under
uvicorn in this process on a free 127.0.0.1 port, as ``mixassist serve`` runs it.

Two figures, each measured by the page itself (``performance.now()``, the page's own clock):

* **edit → playing**: a real key press (selenium's ``ARROW_UP``/``ARROW_DOWN`` on a focused fader,
  one 0.1 dB step; the browser fires ``input`` and ``change``) until the ``<audio>`` element fires
  ``playing`` with the new 10 s preview of the edited mix. From the ``change`` event's
  ``timeStamp`` (when the browser created it) to ``playing``. Each edit is on another track. The
  first preview of the window is played before the timing (the server's strip cache is warm, as it
  is for a producer who has listened once). The breakdown: the PATCH round trip (the new state),
  the preview's render on the server (``X-Render-Ms``), its transfer, and decoding to ``playing``.
  Target ≤ 1 s.
* **page interactive**: a fresh load of ``/?session=ID`` (the proposal is ready on the server)
  until every strip is built with its values and reasons and its controls take input
  (``window.mixassist.readyAt``), and until every EQ curve is drawn from ``/eq``
  (``eqDrawnAt``), from the navigation's start. ``--reloads`` loads. Target ≤ 2 s.

Times are medians over the runs, with min, max and every run; ``ratio_to_target`` is median /
target (≤ 1 meets it). The machine's load average is recorded: on a shared 2-core machine the
server's renders share the cores with whatever else runs.

    python benchmarks/serve_latency.py [--tracks 16] [--seconds 30] [--edits 9] [--reloads 5] [--json]
    python benchmarks/serve_latency.py --demo --screenshots docs/img   # the demo's 8 stems; the docs' screenshots
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo"
sys.path.insert(0, str(ROOT / "tests"))
from browser import ThreadedServer, start_chromium  # noqa: E402  (tests/browser.py: the browser tests' own)
from browser import wait as page_wait  # noqa: E402

#: The page polled every 20 ms (the figures' resolution), for up to 2 minutes unless said.
wait = functools.partial(page_wait, timeout=120.0, poll_s=0.02)

TARGET_EDIT_S = 1.0
TARGET_INTERACTIVE_S = 2.0


def write_session(folder: Path, tracks: int, seconds: float) -> str:
    """``tracks`` stereo WAV stems of ``seconds`` in ``folder``; where the material came from."""
    import soundfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from console_speed import SAMPLE_RATE, make_tracks

    audio, source = make_tracks(tracks, int(seconds * SAMPLE_RATE))
    folder.mkdir(parents=True)
    for name, x in audio.items():
        soundfile.write(folder / f"{name}.wav", x.T, SAMPLE_RATE, subtype="PCM_24")
    return source


def stats(values: list[float], digits: int = 3) -> dict:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "runs": [round(v, digits) for v in values],
    }


def measure_loads(driver, url: str, reloads: int) -> dict:  # noqa: ANN001
    ready, curves = [], []
    for _ in range(reloads):
        driver.get(url)
        wait(driver, "window.mixassist && window.mixassist.eqDrawnAt")
        at = driver.execute_script("return [window.mixassist.readyAt, window.mixassist.eqDrawnAt]")
        ready.append(at[0] / 1000.0)
        curves.append(at[1] / 1000.0)
    return {"interactive_s": stats(ready), "eq_curves_drawn_s": stats(curves)}


def measure_edits(driver, names: list[str], edits: int) -> dict:  # noqa: ANN001
    from selenium.webdriver.common.keys import Keys

    driver.find_element("id", "play").click()  # the first preview of the window: the strip cache fills
    wait(driver, "window.mixassist.lastPreview && !document.querySelector('#player').paused")
    rows = []
    for i in range(edits):
        name = names[i % len(names)]
        fader = driver.find_element("css selector", f"input[data-track='{name}'][data-param=gain_db]")
        count = driver.execute_script("return window.mixassist.edits.length")
        fader.send_keys(Keys.ARROW_UP if i % 2 == 0 else Keys.ARROW_DOWN)
        e = wait(
            driver,
            f"window.mixassist.edits.length > {count} && window.mixassist.edits.at(-1).playingAt && window.mixassist.edits.at(-1)",
        )
        rows.append(
            {
                "track": name,
                "total_s": (e["playingAt"] - e["inputAt"]) / 1000.0,
                "patch_s": (e["stateAt"] - e["inputAt"]) / 1000.0,
                "render_s": e["preview"]["renderMs"] / 1000.0,
                "preview_fetch_s": (e["fetchedAt"] - e["stateAt"]) / 1000.0,
                "to_playing_s": (e["playingAt"] - e["fetchedAt"]) / 1000.0,
            }
        )
        time.sleep(0.3)
    out = {
        k: stats([r[k] for r in rows]) for k in ("total_s", "patch_s", "render_s", "preview_fetch_s", "to_playing_s")
    }
    out["tracks"] = [r["track"] for r in rows]
    out["preview_seconds"] = driver.execute_script("return window.mixassist.windowSeconds")
    return out


def screenshots(driver, url: str, folder: Path) -> list[str]:  # noqa: ANN001
    """The docs' pictures: the desk with a fader's reason showing, and the lower panels."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    driver.get(url)
    wait(driver, "window.mixassist && window.mixassist.eqDrawnAt")
    state = driver.execute_script("return window.mixassist.state")
    lead = next((t["name"] for t in state["tracks"] if t["reasons"].get("gain_db")), state["tracks"][0]["name"])
    driver.execute_script(
        "document.querySelector(`input[data-track='${arguments[0]}'][data-param=gain_db]`).focus()", lead
    )
    time.sleep(0.5)
    written = []

    def save(name: str) -> None:
        path = folder / f"serve-{name}.png"
        driver.save_screenshot(str(path))
        Image.open(path).convert("RGB").quantize(colors=96, dither=Image.Dither.NONE).save(path, optimize=True)
        written.append(f"{path.name} ({path.stat().st_size // 1000} KB)")

    save("console")
    driver.execute_script("document.activeElement.blur(); document.querySelector('#var-n').value = 3")
    driver.find_element("id", "var-ask").click()
    wait(driver, "document.querySelectorAll('#var-list li').length === 3", timeout=600)
    wait(driver, "document.querySelector('#busy').textContent === ''", timeout=600)
    driver.find_element("css selector", "[data-audition='1']").click()
    wait(driver, "window.mixassist.lastPreview && window.mixassist.lastPreview.which === 'variation'")
    driver.execute_script("document.querySelector('.lower').scrollIntoView()")
    time.sleep(0.5)
    save("compare")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--edits", type=int, default=9)
    parser.add_argument("--reloads", type=int, default=5)
    parser.add_argument("--method", default="rules")
    parser.add_argument("--demo", action="store_true", help="serve examples/demo/stems as they are (8 tracks)")
    parser.add_argument("--screenshots", type=Path, help="write serve-*.png here (the docs' pictures)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="serve-latency-"))
    try:
        if args.demo:
            stems, source = DEMO / "stems", "examples/demo/stems (8 files as they are)"
        else:
            stems = home / "stems"
            source = write_session(stems, args.tracks, args.seconds)
        reference = DEMO / "reference.flac"
        server = ThreadedServer(home / "workspace", [stems, reference])
        t0 = time.perf_counter()
        body = {"stems": str(stems), "reference": [str(reference)], "method": args.method}
        state = server.call("POST", "/api/sessions", body, timeout=3600)
        proposal_s = time.perf_counter() - t0
        url = f"{server.url}/?session={state['id']}"
        driver = start_chromium("--mute-audio", "--hide-scrollbars")
        try:
            if args.screenshots:
                written = screenshots(driver, url, args.screenshots)
                print("wrote", ", ".join(written), file=sys.stderr)
                return
            loads = measure_loads(driver, url, args.reloads)
            names = [t["name"] for t in state["tracks"]]
            edits = measure_edits(driver, names, args.edits)
        finally:
            driver.quit()
            server.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)

    result = {
        "benchmark": "serve_latency",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        "session": {
            "tracks": len(state["tracks"]),
            "seconds": state["seconds"],
            "sample_rate": state["sample_rate"],
            "audio": source,
            "method": args.method,
        },
        "proposal_s": round(proposal_s, 2),
        "edit_to_playing": edits,
        "page_load": loads,
        "target": {
            "edit_to_playing_s_max": TARGET_EDIT_S,
            "interactive_s_max": TARGET_INTERACTIVE_S,
            "edit_ratio_to_target": round(edits["total_s"]["median"] / TARGET_EDIT_S, 3),
            "interactive_ratio_to_target": round(loads["interactive_s"]["median"] / TARGET_INTERACTIVE_S, 3),
            "met_edit": edits["total_s"]["median"] <= TARGET_EDIT_S,
            "met_interactive": loads["interactive_s"]["median"] <= TARGET_INTERACTIVE_S,
        },
    }
    line = json.dumps(result)
    args.out.write_text(line + "\n")
    if not args.json:
        e, p = edits["total_s"], loads["interactive_s"]
        print(f"{result['session']['tracks']} tracks × {state['seconds']:.0f} s: proposal {proposal_s:.1f} s")
        print(
            f"edit → new 10 s preview playing: median {e['median']:.3f} s (min {e['min']:.3f}, max {e['max']:.3f}); target ≤ {TARGET_EDIT_S} s"
        )
        print(
            f"  of which server render (median): {edits['render_s']['median']:.3f} s, PATCH {edits['patch_s']['median']:.3f} s"
        )
        print(
            f"page interactive after load: median {p['median']:.3f} s; EQ curves drawn {loads['eq_curves_drawn_s']['median']:.3f} s; target ≤ {TARGET_INTERACTIVE_S} s"
        )
    print(line)


if __name__ == "__main__":
    main()
