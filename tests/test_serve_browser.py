"""The browser console of ``mixassist serve`` (issue 22), driven in real headless Chromium against a
real uvicorn server on a free localhost port: one server, one browser and one demo session for the
whole module (an excerpt of the bundled demo: its 8 stems, 6 s at 22050 Hz, mixed by the rules).

The tests run in file order and build on each other, as a producer would: open, listen, move a
fader, lock it, re-solve, undo, compare, ask for variations, export.
"""

from __future__ import annotations

import io
import os
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from browser import ThreadedServer, require_browser, start_chromium, wait

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "mixassist" / "serve" / "static"
DEMO = ROOT / "examples" / "demo"
SR = 22050
STEMS_S = 6.0  # the song: shorter than a preview (10 s), which then covers all of it
REFERENCE_S = 10.0


def test_the_page_ships_in_the_package_and_fetches_nothing_from_outside():
    """Every file of the page is package data; the page names only its own files, no CDN."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mixassist"]
    files = sorted(p.name for p in STATIC.iterdir())
    assert {"index.html", "app.js", "style.css"} <= set(files)
    for name in files:
        assert any(fnmatch(f"serve/static/{name}", g) for g in globs), name
    page = (STATIC / "index.html").read_text()
    linked = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sorted(linked) == ["/static/app.js", "/static/style.css", "data:,"]
    for name in files:
        text = (STATIC / name).read_text()
        assert not re.search(r"https?://|//cdn|@import|url\(", text), name


# ---------------------------------------------------------------- the module's server, session and browser


def _excerpt(src: Path, dst: Path, seconds: float, start_s: float = 0.0) -> None:
    """``seconds`` of ``src`` from ``start_s``, resampled to ``SR`` (16-bit WAV)."""
    from mixassist.audio.io import resample

    info = sf.info(src)
    audio, rate = sf.read(
        src,
        start=int(start_s * info.samplerate),
        frames=int(seconds * info.samplerate),
        dtype="float32",
        always_2d=True,
    )
    sf.write(dst, resample(audio.T, rate, SR).T, SR, subtype="PCM_16")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The running server and the demo session (proposed by the rules), as ``(server, state)``."""
    home = tmp_path_factory.mktemp("serve")
    stems = home / "stems"
    stems.mkdir()
    for path in sorted((DEMO / "stems").glob("*.flac")):
        _excerpt(path, stems / f"{path.stem}.wav", STEMS_S)
    reference = home / "reference.wav"
    _excerpt(DEMO / "reference.flac", reference, REFERENCE_S, start_s=5.0)
    pytest.importorskip("uvicorn", reason="uvicorn (the serve extra) is not installed")
    server = ThreadedServer(home / "workspace", [stems, reference])
    server.stems = stems
    try:
        state = server.call(
            "POST", "/api/sessions", {"stems": str(stems), "reference": [str(reference)], "method": "rules"}
        )
        yield server, state
    finally:
        server.stop()


@pytest.fixture(scope="module")
def driver(served):
    require_browser()
    try:
        browser = start_chromium("--mute-audio", logs=True)
    except Exception as exc:  # noqa: BLE001 - any failure to start the browser is a skip, said why
        pytest.skip(f"headless chromium could not start: {str(exc).splitlines()[0]}")
    server, state = served
    browser.get(f"{server.url}/?session={state['id']}")
    try:
        yield browser
    finally:
        browser.quit()


def page_state(driver) -> dict:
    return driver.execute_script("return window.mixassist.state")


def idle(driver) -> None:
    """Wait until no request of the page is pending (busy line empty, the edit chain done)."""
    wait(driver, "document.querySelector('#busy').textContent === ''")
    driver.execute_async_script("const done = arguments[arguments.length - 1]; window.mixassist.idle().then(done);")


def shot(driver, name: str) -> None:
    """Screenshots for docs/serve.md, only when asked: MIXASSIST_SERVE_SHOTS=DIR."""
    folder = os.environ.get("MIXASSIST_SERVE_SHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / f"serve-{name}.png"))


def loudness(wav: bytes) -> float:
    from mixassist.measure import integrated_loudness

    audio, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    return integrated_loudness(audio.T, rate)


#: The session's state just before the re-solve (the lock test fills it, the undo test reads it).
PRE_SOLVE: dict = {}


def track_param(state: dict, track: str, param: str):
    return next(t for t in state["tracks"] if t["name"] == track)["params"][param]


# ---------------------------------------------------------------- the done-when, in a producer's order


@pytest.mark.browser
def test_the_demo_session_opens_with_8_strips_showing_the_proposed_values(driver, served):
    _, state = served
    wait(driver, "document.body.dataset.ready === '1'")
    names = driver.execute_script(
        "return [...document.querySelectorAll('.strip[data-strip=track]')].map(s => s.dataset.track)"
    )
    assert sorted(names) == sorted(t["name"] for t in state["tracks"]) and len(names) == 8
    for track in state["tracks"]:
        shown = driver.execute_script(
            "const i = document.querySelector(`input[data-track='${arguments[0]}'][data-param=gain_db]`);"
            "return [parseFloat(i.value), i.closest('.ctl').querySelector('output').textContent]",
            track["name"],
        )
        assert shown[0] == pytest.approx(track["params"]["gain_db"], abs=0.051)
        assert shown[1].endswith(" dB")
    # the reason shows on keyboard focus, in the tooltip the control points at
    track = next(t for t in state["tracks"] if t["reasons"].get("gain_db"))
    fader = driver.find_element("css selector", f"input[data-track='{track['name']}'][data-param=gain_db]")
    driver.execute_script("arguments[0].focus()", fader)
    tip = driver.find_element("id", fader.get_attribute("aria-describedby"))
    assert tip.is_displayed()
    assert "Proposed" in tip.text and track["reasons"]["gain_db"][:40] in tip.text.replace("\n", " ")
    assert track["reasons"]["gain_db"][:40] in fader.get_attribute("title").replace("\n", " ")
    # ... and on hover, for another control
    from selenium.webdriver.common.action_chains import ActionChains

    hpf = driver.find_element("css selector", f"input[data-track='{track['name']}'][data-param=hpf_hz]")
    driver.execute_script("arguments[0].blur()", fader)
    ActionChains(driver).move_to_element(hpf).perform()
    hover_tip = driver.find_element("id", hpf.get_attribute("aria-describedby"))
    assert hover_tip.is_displayed() and "Proposed" in hover_tip.text and not tip.is_displayed()
    wait(driver, "document.querySelectorAll('canvas[data-eq][data-drawn]').length === 9")  # 8 strips + master
    assert driver.find_elements("css selector", ".strip[data-strip=master] input[data-param=limiter_ceiling_dbtp]")
    assert driver.find_elements("css selector", ".strip[data-strip=master] input[data-param=comp_ratio]")
    assert driver.find_elements("css selector", "#fidelity tbody tr")
    shot(driver, "console")


def _move(driver, track: str, value: float) -> dict:
    """Moves TRACK's fader to VALUE as a drag would end (input, change); the edit once its preview plays."""
    count = driver.execute_script("return window.mixassist.edits.length")
    driver.execute_script(
        "const i = document.querySelector(`input[data-track='${arguments[0]}'][data-param=gain_db]`);"
        "i.value = arguments[1]; i.dispatchEvent(new Event('input')); i.dispatchEvent(new Event('change'));",
        track,
        value,
    )
    return wait(
        driver,
        f"window.mixassist.edits.length > {count} && window.mixassist.edits.at(-1).playingAt && window.mixassist.edits.at(-1)",
    )


@pytest.mark.browser
def test_moving_a_fader_plays_a_new_preview_whose_loudness_moves_the_right_way(driver, served):
    server, state = served
    driver.find_element("id", "play").click()
    wait(driver, "window.mixassist.lastPreview && !document.querySelector('#player').paused")
    before = driver.execute_script("return window.mixassist.lastPreview")
    # the track that contributes most: its stem's loudness plus its fader
    level = {
        t["name"]: t["params"]["gain_db"] + (loudness((server.stems / f"{t['name']}.wav").read_bytes()) or -70.0)
        for t in state["tracks"]
    }
    track = max(level, key=level.get)
    old = track_param(page_state(driver), track, "gain_db")
    up = _move(driver, track, round(old + 6.0, 1))
    louder = driver.execute_script("return window.mixassist.lastPreview")
    assert track_param(page_state(driver), track, "gain_db") == round(old + 6.0, 1)
    assert louder["digest"] != before["digest"] and louder["lufs"] > before["lufs"] + 0.1, (before, louder)
    assert up["latencyMs"] > 0 and not driver.execute_script("return document.querySelector('#player').paused")
    _move(driver, track, round(old - 6.0, 1))
    quieter = driver.execute_script("return window.mixassist.lastPreview")
    assert quieter["lufs"] < before["lufs"] - 0.1, (before, quieter)
    # three quick key presses are three 0.1 dB steps: none is lost while the edits are on their way
    from selenium.webdriver.common.keys import Keys

    fader = driver.find_element("css selector", f"input[data-track='{track}'][data-param=gain_db]")
    fader.send_keys(Keys.ARROW_UP, Keys.ARROW_UP)
    wait(driver, "window.mixassist.edits.at(-2).stateAt")  # the first answered, the second on its way
    fader.send_keys(Keys.ARROW_UP)
    idle(driver)
    assert track_param(server.call("GET", f"/api/sessions/{state['id']}"), track, "gain_db") == round(
        round(old - 6.0, 1) + 0.3, 1
    )


@pytest.mark.browser
def test_a_locked_setting_is_kept_exactly_when_the_rest_is_re_solved(driver, served):
    server, _ = served
    idle(driver)
    state = page_state(driver)
    track = max(state["tracks"], key=lambda t: t["params"]["gain_db"])["name"]
    kept = track_param(state, track, "gain_db")
    driver.find_element("css selector", f"[data-lock='track|{track}|gain_db']").click()
    wait(driver, f"window.mixassist.state.tracks.find(t => t.name === '{track}').locked.includes('gain_db')")
    PRE_SOLVE.update(page_state(driver))
    length = PRE_SOLVE["history"]["length"]
    driver.find_element("id", "solve").click()
    wait(driver, f"window.mixassist.state.history.length > {length}")
    idle(driver)
    solved = server.call("GET", f"/api/sessions/{state['id']}")
    assert track_param(solved, track, "gain_db") == kept
    assert track_param(page_state(driver), track, "gain_db") == kept
    lock = driver.find_element("css selector", f"[data-lock='track|{track}|gain_db']")
    assert lock.get_attribute("aria-pressed") == "true"
    shot(driver, "locked")


@pytest.mark.browser
def test_undo_goes_back_one_step(driver, served):
    """Undo takes back the re-solve: every setting is again what it was before it."""
    server, _ = served
    before = page_state(driver)
    driver.find_element("id", "undo").click()
    wait(driver, f"window.mixassist.state.history.index === {before['history']['index'] - 1}")
    idle(driver)
    after = server.call("GET", f"/api/sessions/{before['id']}")
    assert after["history"]["index"] == before["history"]["index"] - 1 and after["history"]["can_redo"]
    assert [t["params"] for t in after["tracks"]] == [t["params"] for t in PRE_SOLVE["tracks"]]
    assert after["master"]["params"] == PRE_SOLVE["master"]["params"]
    assert [t["params"] for t in before["tracks"]] != [t["params"] for t in PRE_SOLVE["tracks"]]  # the solve moved some
    assert driver.find_element("id", "redo").is_enabled()
    fader = driver.find_element("css selector", "input[data-param=gain_db]")
    assert float(fader.get_attribute("value")) == pytest.approx(
        track_param(after, fader.get_attribute("data-track"), "gain_db"), abs=0.051
    )


@pytest.mark.browser
def test_a_b_c_switch_keeps_the_position_at_equal_loudness(driver, served):
    server, state = served
    player = "document.querySelector('#player')"
    driver.execute_script(f"{player}.currentTime = 3.0; {player}.play()")
    wait(driver, f"!{player}.paused && {player}.currentTime > 3.2")
    for which in ("reference", "raw", "mix"):
        driver.find_element("css selector", f".abc [data-which={which}]").click()
        switch = wait(
            driver,
            f"window.mixassist.lastSwitch && window.mixassist.lastSwitch.which === '{which}' && window.mixassist.lastSwitch",
        )
        assert switch["to"] == pytest.approx(switch["from"], abs=0.25), switch
        assert driver.find_element("css selector", f".abc [data-which={which}]").get_attribute("aria-checked") == "true"
    levels = {}
    for which in ("mix", "reference", "raw"):
        wav, _ = server.get(f"/api/sessions/{state['id']}/preview.wav?which={which}&start=0&seconds=10")
        levels[which] = loudness(wav)
    assert max(levels.values()) - min(levels.values()) < 0.5, levels


@pytest.mark.browser
def test_three_variations_differ_measurably_and_one_is_picked(driver, served):
    server, state = served
    idle(driver)
    n = driver.find_element("id", "var-n")
    n.clear()
    n.send_keys("3")
    driver.find_element("id", "var-ask").click()
    wait(driver, "document.querySelectorAll('#var-list li').length === 3", timeout=120)
    idle(driver)
    previews = []
    for k in range(3):
        wav, _ = server.get(f"/api/sessions/{state['id']}/variations/{k}/preview.wav?start=0&seconds=10")
        audio, _ = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
        previews.append(audio)
    for i in range(3):
        for j in range(i + 1, 3):
            a, b = previews[i], previews[j]
            m = min(len(a), len(b))
            difference = np.sqrt(np.mean((a[:m] - b[:m]) ** 2) / np.mean(a[:m] ** 2))
            assert difference > 0.1, (i, j, difference)  # more than -20 dB apart
    driver.find_element("css selector", "[data-audition='1']").click()
    wait(driver, "window.mixassist.lastPreview.which === 'variation'")
    shot(driver, "variations")
    before = page_state(driver)
    driver.find_element("css selector", "[data-pick='1']").click()
    wait(
        driver,
        f"window.mixassist.state.history.length > {before['history']['length']} || window.mixassist.state.history.index > {before['history']['index']}",
    )
    idle(driver)
    picked = page_state(driver)
    assert picked["history"]["can_undo"]
    changed = [
        (t["name"], p)
        for t, u in zip(before["tracks"], picked["tracks"])
        for p in t["params"]
        if t["params"][p] != u["params"][p]
    ]
    assert changed


@pytest.mark.browser
def test_the_exported_recipe_renders_the_exported_mix(driver, served, tmp_path):
    from cli_runner import run_cli

    server, state = served
    idle(driver)
    driver.find_element("css selector", "[data-export='recipe.json']").click()
    wait(driver, "document.querySelector('#toast').textContent.includes('recipe.json')")
    recipe, _ = server.get(f"/api/sessions/{state['id']}/export/recipe.json")
    mix, _ = server.get(f"/api/sessions/{state['id']}/export/mix.wav")
    (tmp_path / "recipe.json").write_bytes(recipe)
    result = run_cli("render", str(tmp_path / "recipe.json"), "-o", str(tmp_path / "again.wav"))
    assert result.returncode == 0, result.stderr
    exported, rate = sf.read(io.BytesIO(mix), dtype="float32", always_2d=True)
    again, rate2 = sf.read(tmp_path / "again.wav", dtype="float32", always_2d=True)
    assert rate == rate2 and exported.shape == again.shape, (rate, rate2, exported.shape, again.shape)
    error = float(np.max(np.abs(exported - again)))
    assert error < 2e-4, error  # 24-bit rounding, not a different mix
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    assert driver.execute_script("return window.mixassist.errors") == []


@pytest.mark.browser
def test_the_start_page_lists_the_session_and_opens_it(driver, served):
    server, state = served
    driver.get(server.url + "/")
    link = wait(driver, f"document.querySelector(`#session-list a[href='/?session={state['id']}']`)")
    assert driver.find_element("id", "open-stems").is_displayed() and driver.find_element("id", "upload-files")
    assert not driver.find_element("id", "console").is_displayed()  # no desk without a session
    link.click()
    wait(driver, "document.body.dataset.ready === '1'")
    assert len(driver.find_elements("css selector", ".strip[data-strip=track]")) == 8
