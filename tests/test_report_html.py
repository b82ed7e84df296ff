"""``report.html`` (issue 21): one self-contained page with players for the previews, the
tables and the style plot; no external resource, no script; checked in real headless Chromium:
it loads with no console errors and every player has a source the browser can decode."""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from browser import require_browser, start_chromium

from mixassist.api import MixResult
from mixassist.audio.multitrack import Multitrack
from mixassist.console.params import MixParams
from mixassist.mixers.decisions import Proposal, Reasons
from mixassist.previews import make_previews, raw_sum
from mixassist.recipe import Recipe
from mixassist.report_html import render_html

SR = 22050
BANDS = [63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0]


def _features(tilt: float) -> dict:
    return {
        "band_centres_hz": BANDS,
        "spectral_mid_db": [-3.0 - tilt * i for i in range(len(BANDS))],
        "width_db": [-20.0 + 2 * i for i in range(len(BANDS))],
        "loudness_lufs": -14.0 + tilt,
        "crest_db": 12.0,
        "short_term_spread_lu": 2.5,
        "width_overall_db": -9.0,
    }


def _result(tmp_path: Path) -> MixResult:
    """A small mix result with previews and a style comparison, built without a mixer run."""
    rng = np.random.default_rng(3)
    audio = {n: (0.05 * rng.standard_normal((1, 4 * SR))).astype(np.float32) for n in ("vocals", "bass")}
    multitrack = Multitrack.from_arrays(audio, SR)
    params = MixParams(multitrack.names, tracks={"vocals": {"gain_db": -2.0, "pan": 0.2}})
    style = {"start": _features(0.5), "target": _features(1.0), "result": _features(0.9), "reference": _features(1.1)}
    context = {"method": "match", "loudness_lufs": -14.0, "style": style}
    recipe = Recipe(
        SR, {n: Path(f"stems/{n}.wav") for n in audio}, params, base_dir=tmp_path, extra={"context": context}
    )
    mix = 0.5 * raw_sum([t.audio for t in multitrack])
    reference = (0.1 * rng.standard_normal((2, 3 * SR))).astype(np.float32)
    previews = make_previews(raw_sum([t.audio for t in multitrack]), mix, SR, [("ref.flac", reference)], excerpt_s=2.0)
    measured = {"integrated_lufs": -14.2, "true_peak_dbtp": -1.3, "correlation": 0.6}
    proposal = Proposal(params, Reasons(), {}, {}, context)
    return MixResult(mix, SR, proposal, recipe, measured, dict(audio), previews)


def test_the_page_is_self_contained_and_has_every_part(tmp_path):
    result = _result(tmp_path)
    page = render_html(result.recipe.to_dict(), result.measured, result.previews, style_png=b"\x89PNG fake")
    sources = re.findall(r'<audio controls preload="metadata" src="([^"]+)">', page)
    assert sources == [p.name for p in result.previews] and len(sources) == 6  # raw, mix, reference × 2 lengths
    assert all(s.startswith("previews/") and s.endswith(".flac") for s in sources)
    assert "<script" not in page.lower() and not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "@import" not in page and "url(" not in page
    assert 'src="data:image/png;base64,' in page
    for text in (
        "Tracks at a glance",
        "vocals",
        "-2.0 dB",
        "Style: this mix against its target",
        "reference",
        "mid level, air ≥ 6 kHz",
        "-14.2 LUFS",
    ):
        assert text in page, text


@pytest.mark.browser
def test_report_html_in_headless_chromium(tmp_path):
    """Loads from disk (file://) with no console errors; every player has a source it decodes."""
    require_browser()
    out = tmp_path / "out"
    paths = _result(tmp_path).save(out)
    driver = start_chromium("--allow-file-access-from-files", width=1280, height=2000, logs=True)
    try:
        driver.get(paths["html"].resolve().as_uri())
        state = driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            const players = Array.from(document.querySelectorAll('audio'));
            const settle = () => players.every(a => a.readyState >= 1 || a.error);
            const report = () => done(players.map(a => ({src: a.currentSrc, ready: a.readyState,
                                                        error: a.error && a.error.code, duration: a.duration})));
            players.forEach(a => a.load());
            const start = Date.now();
            (function wait() { if (settle() || Date.now() - start > 15000) report(); else setTimeout(wait, 50); })();
            """
        )
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        shot = tmp_path / "report.png"
        driver.save_screenshot(str(shot))
        if os.environ.get("MIXASSIST_SCREENSHOT"):
            shutil.copy(shot, os.environ["MIXASSIST_SCREENSHOT"])
    finally:
        driver.quit()
    assert errors == []
    assert len(state) == 6
    for player in state:
        assert player["src"].startswith("file://") and "/previews/" in player["src"], player
        assert player["error"] is None and player["ready"] >= 1, player
        assert player["duration"] == pytest.approx(
            2.0 if "/excerpt/" in player["src"] else 3.0 if "reference" in player["src"] else 4.0, abs=0.05
        )


def test_lane_plots_are_written_linked_and_shown_and_retired(tmp_path):
    """Issue 24: one PNG per automated track, part of the session's output set; report.md links
    it, report.html embeds it; a later mix without lanes removes it."""
    from mixassist.console.lanes import Lane

    result = _result(tmp_path)
    result.params.set_lane("vocals", "gain_db", Lane((0.5, 1.5, 3.0), (-2.0, -4.0, -1.0)))
    result.params.set_lane("vocals", "pan", Lane((0.0, 2.0), (-0.5, 0.5)))
    sections = [{"start_s": 0.0, "stop_s": 2.0, "label": "verse"}, {"start_s": 2.0, "stop_s": 4.0, "label": "chorus"}]
    result.recipe.extra["context"]["sections"] = sections
    result.recipe.why.setdefault("vocals", {})["gain_db@1-2"] = "ride: the chorus is busier"
    paths = result.save(tmp_path / "out")
    png = tmp_path / "out" / "automation" / "01-vocals.png"
    assert paths["automation"] == png.parent and sorted(png.parent.iterdir()) == [png]
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 2000
    report = (tmp_path / "out" / "report.md").read_text()
    assert "![vocals: automation over time](automation/01-vocals.png)" in report
    assert "Sections: verse 0.0–2.0 s, chorus 2.0–4.0 s." in report
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<h2>Automation</h2>" in page and "ride: the chorus is busier" in page
    assert base64.b64encode(data).decode("ascii") in page
    result.params.clear_lane("vocals")
    plain = _result(tmp_path)
    plain.save(tmp_path / "out", overwrite=True)
    assert not png.exists() and "Automation" not in (tmp_path / "out" / "report.md").read_text()
