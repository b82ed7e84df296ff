"""``report.md``: what was done to each track and why, and how the mix measures.

Plain words with the numbers; every figure comes from the recipe or a measurement of the
rendered mix, nothing is restated by hand.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mixassist.fileio import write_bytes_atomic
from mixassist.measure import LoudnessReport, measure, spectral_tilt_db_per_octave
from mixassist.outputs import lane_plot_names

__all__ = [
    "GLANCE_COLUMNS",
    "automated_lanes",
    "automation_lines",
    "automation_plots",
    "decision_lines",
    "glance_rows",
    "lane_plot_png",
    "lane_plots",
    "lane_rows",
    "sections_text",
    "fidelity_rows_text",
    "fidelity_section",
    "style_rows",
    "mix_measurements",
    "spectral_tilt_db_per_octave",
    "render_report",
    "style_section",
    "style_plot",
]

# Settings shown in the per-track table: (title, params, format).
_EQ_BANDS = ("low_shelf", "peak1", "peak2", "peak3", "peak4", "high_shelf")
#: A compressor's settings: one decision, one line in the report.
_COMP_KEYS = ("comp_ratio", "comp_threshold_db", "comp_attack_ms", "comp_release_ms", "comp_knee_db")


def mix_measurements(mix: np.ndarray, sample_rate: int, report: LoudnessReport | None = None) -> dict[str, Any]:
    """Loudness, true peak, LRA, PLR, correlation, side/mid and spectral tilt of a mix;
    ``report``: ``measure(mix, sample_rate)`` if the caller has it already."""
    out = (report if report is not None else measure(mix, sample_rate)).to_dict()
    out["spectral_tilt_db_per_octave"] = spectral_tilt_db_per_octave(mix, sample_rate)
    return out


def _fmt(value: Any, spec: str = "{:.1f}", unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return spec.format(value) + unit


def _eq_summary(params: Mapping[str, Any]) -> str:
    moves = []
    for band in _EQ_BANDS:
        gain = params.get(f"eq_{band}_db") or 0.0
        if gain:
            moves.append(f"{gain:+.1f} dB @ {params.get(f'eq_{band}_hz'):.0f} Hz")
    return ", ".join(moves) or "flat"


def _comp_summary(params: Mapping[str, Any]) -> str:
    ratio = params.get("comp_ratio") or 1.0
    if ratio <= 1.0:
        return "off"
    return f"{ratio:g}:1 @ {params.get('comp_threshold_db'):.1f} dB"


def _reduction_text(reduction: Mapping[str, float] | None) -> str:
    if not reduction:
        return "—"
    return f"max {reduction['max']:.1f} dB, mean {reduction['mean']:.1f} dB"


def _start_label(ctx: Mapping[str, Any]) -> str:
    """The style table's first column: the method the mix started from (``auto`` starts from ``neural``)."""
    return f"start ({ctx.get('start') or 'rules'})"


def _pan_text(pan: float | None) -> str:
    if not pan:
        return "C"
    return f"{abs(pan) * 100:.0f}{'L' if pan < 0 else 'R'}"


#: Units shown after the value of the issue-19 settings in decision lines (their reasons say the rest).
_UNITS = {"lpf_hz": " Hz", "side_hpf_hz": " Hz", "side_gain_db": " dB", "drive_db": " dB"}


def _shown(value: Any, param: str = "") -> str:
    return "off" if value is None else f"{value:g}{_UNITS.get(param, '')}"


def decision_lines(why: Mapping[str, str], params: Mapping[str, Any]) -> list[str]:
    """One line per decision: an EQ band's gain, frequency and Q are one line (the gain's reason),
    and so are a compressor's five settings; every other setting is a line of its own."""
    lines: list[str] = []
    done: set[str] = set()
    for param, text in why.items():
        if param in done:
            continue
        band = next((b for b in _EQ_BANDS if param.startswith(f"eq_{b}_")), None)
        if band is not None and f"eq_{band}_db" in why:
            keys = [f"eq_{band}_{k}" for k in ("db", "hz", "q")]
            done.update(keys)
            gain, hz, q = (params.get(k) for k in keys)
            shown = "flat" if not gain else f"{gain:+.1f} dB @ {_fmt(hz, '{:.0f}', ' Hz')}, Q {_fmt(q, '{:g}')}"
            lines.append(f"- `eq_{band}` = {shown}: {why[keys[0]]}")
        elif param in _COMP_KEYS and "comp_ratio" in why:
            done.update(_COMP_KEYS)
            ratio = params.get("comp_ratio") or 1.0
            if ratio <= 1.0:
                lines.append(f"- compressor = off: {why['comp_ratio']}")
                continue
            shown = (
                f"{ratio:g}:1 @ {_fmt(params.get('comp_threshold_db'), unit=' dB')}, "
                f"{_fmt(params.get('comp_attack_ms'), '{:g}')}/{_fmt(params.get('comp_release_ms'), '{:g}')} ms, "
                f"knee {_fmt(params.get('comp_knee_db'), '{:g}')} dB"
            )
            said = dict.fromkeys(why[k] for k in _COMP_KEYS if k in why)  # "predicted from …" once, not five times
            lines.append(f"- compressor = {shown}: " + "; ".join(said))
        elif "@" in param:  # a stretch of an automation lane: PARAM@START-STOP
            name, _, span = param.partition("@")
            start, _, stop = span.partition("-")
            lines.append(f"- `{name}` lane, {start}–{stop} s: {text}")
        else:
            lines.append(f"- `{param}` = {_shown(params.get(param), param)}: {text}")
    return lines


def automated_lanes(recipe: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], Mapping[str, Any]]]:
    """``(owner, {param: lane}, params)`` for each track (console order), then the master, that
    has a lane of two points or more (a one-point lane is a static setting)."""
    owners = [(t["name"], t.get("lanes") or {}, t.get("params", {})) for t in recipe.get("tracks", [])]
    master = recipe.get("master", {}) or {}
    owners.append(("master", master.get("lanes") or {}, master.get("params", {})))
    out = []
    for owner, lanes, params in owners:
        moving = {name: lane for name, lane in lanes.items() if len(lane.get("times_s", [])) >= 2}
        if moving:
            out.append((owner, moving, params))
    return out


def automation_plots(recipe: Mapping[str, Any]) -> dict[str, str]:
    """``{owner: file}``: the plot of each automated track (and the master), relative to the
    output folder (:func:`~mixassist.outputs.lane_plot_names`)."""
    names = [t["name"] for t in recipe.get("tracks", [])]
    return lane_plot_names(names, [owner for owner, _, _ in automated_lanes(recipe)])


def lane_rows(recipe: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(owner, text)`` per lane: points, span, range, base and steepest move."""
    rows = []
    for owner, lanes, params in automated_lanes(recipe):
        for name, lane in lanes.items():
            times, values = lane["times_s"], lane["values"]
            # a raised-cosine segment's steepest slope is pi/2 times its mean slope
            steepest = (
                max(abs(b - a) / (v - u) for a, b, u, v in zip(values, values[1:], times, times[1:])) * math.pi / 2
            )
            base = params.get(name)
            unit = " dB" if name.endswith("_db") else ""  # the same text in report.md and report.html
            rows.append(
                (
                    owner,
                    f"{name}: {len(times)} points, {times[0]:.1f}–{times[-1]:.1f} s, "
                    f"{min(values):+.1f} … {max(values):+.1f}{unit}"
                    + (f" (base {base:+.1f}{unit})" if isinstance(base, (int, float)) else "")
                    + f", steepest move {steepest:.1f}{unit}/s",
                )
            )
    return rows


def sections_text(recipe: Mapping[str, Any]) -> str:
    """``"Sections: verse 0.0–8.0 s, …."``, or empty when the recipe's context has none."""
    sections = (recipe.get("context", {}) or {}).get("sections") or []
    if not sections:
        return ""
    return "Sections: " + ", ".join(f"{s['label']} {s['start_s']:.1f}–{s['stop_s']:.1f} s" for s in sections) + "."


def automation_lines(recipe: Mapping[str, Any]) -> list[str]:
    """The ``## Automation`` section: the song's sections, one line per lane (points, base,
    range, steepest move) and a link to each automated track's plot; empty when nothing is
    automated and no sections are known."""
    rows = [f"- {owner} {text}" for owner, text in lane_rows(recipe)]
    sections = sections_text(recipe)
    if not rows and not sections:
        return []
    lines = ["## Automation", ""]
    if sections:
        lines += [sections, ""]
    if not rows:
        return lines
    plots = [f"![{owner}: automation over time]({file})" for owner, file in automation_plots(recipe).items()]
    return [*lines, *rows, "", *plots, ""]


#: Colours of the lanes in a plot, by parameter (an EQ band's gain: :func:`_lane_style`).
_LANE_COLOURS = {"gain_db": "C0", "pan": "C1", "reverb_send_db": "C2", "output_gain_db": "C3"}
#: Axis titles of the lanes in a plot, by parameter.
_LANE_UNITS = {
    "gain_db": "gain (dB)",
    "pan": "pan (L −1 … R +1)",
    "reverb_send_db": "reverb send (dB)",
    "output_gain_db": "output gain (dB)",
}
#: The EQ bands in console order (the schema's ``EQ_BANDS``, whose module imports torch).
_EQ_BANDS = ("low_shelf", "peak1", "peak2", "peak3", "peak4", "high_shelf")


def _lane_style(name: str) -> tuple[str, str]:
    """A lane's colour and axis title: ``eq_<band>_db`` lanes as "EQ <band> (dB)", C4…C9."""
    band = name[3:-3] if name.startswith("eq_") and name.endswith("_db") else ""
    if band in _EQ_BANDS:
        return f"C{4 + _EQ_BANDS.index(band)}", f"EQ {band.replace('_', ' ')} (dB)"
    return _LANE_COLOURS.get(name, "C4"), _LANE_UNITS.get(name, name)


def lane_plot_png(owner: str, lanes: Mapping[str, Any], sections: Sequence[Mapping[str, Any]]) -> bytes | None:
    """A small PNG of one track's (or the master's) lanes over time, one panel per lane in its
    unit, breakpoints marked, the song's sections shaded and labelled; None without matplotlib."""
    try:
        import matplotlib  # lazy: optional dependency (and 0.5 s to import)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # lazy: optional dependency
    except ImportError:
        return None
    from mixassist.console.lanes import lane_curve_numpy  # lazy: the console package imports torch

    ends = [float(lane["times_s"][-1]) for lane in lanes.values()] + [float(s["stop_s"]) for s in sections]
    stop = max(ends) if ends else 1.0
    fig, axes = plt.subplots(len(lanes), 1, figsize=(8, 1.2 + 1.5 * len(lanes)), sharex=True, squeeze=False)
    for ax, (name, lane) in zip(axes[:, 0], lanes.items(), strict=True):
        t = np.linspace(0.0, stop, 1200)
        colour, title = _lane_style(name)
        ax.plot(t, lane_curve_numpy(lane["times_s"], lane["values"], t), color=colour)
        ax.plot(lane["times_s"], lane["values"], ".", color="k", markersize=3)
        ax.set_ylabel(title, fontsize=8)
        ax.grid(alpha=0.3)
        for i, s in enumerate(sections):
            start_s, stop_s = float(s["start_s"]), float(s["stop_s"])
            ax.axvspan(start_s, stop_s, color="0.85" if i % 2 else "0.93", zorder=0)
            if ax is axes[0, 0]:
                ax.text(
                    (start_s + stop_s) / 2,
                    1.02,
                    str(s["label"]),
                    transform=ax.get_xaxis_transform(),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    axes[0, 0].set_title(f"{owner}: automation", fontsize=9, pad=14 if sections else 6)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 0].set_xlim(0.0, stop)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def lane_plots(recipe: Mapping[str, Any]) -> dict[str, bytes]:
    """``{file: png}``: :func:`lane_plot_png` of every automated track and the master, under the
    names :func:`automation_plots` gives (what ``report.md`` links); empty without matplotlib."""
    sections = (recipe.get("context", {}) or {}).get("sections") or []
    files = automation_plots(recipe)
    out = {}
    for owner, lanes, _ in automated_lanes(recipe):
        png = lane_plot_png(owner, lanes, sections)
        if png is None:
            return {}
        out[files[owner]] = png
    return out


def render_report(recipe: Mapping[str, Any], measured_mix: Mapping[str, Any], *, title: str = "Mix report") -> str:
    """Markdown report from a recipe's JSON data (version 3, as ``Recipe.to_dict`` writes it) and
    the mix's measurements."""
    ctx = recipe.get("context", {}) or {}
    lines = [f"# {title}", ""]
    method = ctx.get("method", "?")
    target = ctx.get("loudness_lufs")
    tp_target = ctx.get("true_peak_dbtp")
    lines += [
        f"Method: **{method}**. Sample rate {recipe.get('sample_rate')} Hz, {len(recipe.get('tracks', []))} tracks. "
        f"Made by mixassist {recipe.get('mixassist', '?')}; `mixassist render recipe.json -o mix.wav` reproduces it.",
        "",
        "## The mix",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| integrated loudness | {_fmt(measured_mix.get('integrated_lufs'), unit=' LUFS')} | {_fmt(target, unit=' LUFS')} |",
        f"| true peak | {_fmt(measured_mix.get('true_peak_dbtp'), unit=' dBTP')} | ≤ {_fmt(tp_target, unit=' dBTP')} |",
        f"| loudness range | {_fmt(measured_mix.get('loudness_range_lu'), unit=' LU')} | |",
        f"| peak-to-loudness ratio | {_fmt(measured_mix.get('plr_db'), unit=' dB')} | |",
        f"| stereo correlation | {_fmt(measured_mix.get('correlation'), '{:+.2f}')} | > 0 (mono-compatible) |",
        f"| width (side/mid energy) | {_fmt(measured_mix.get('side_mid_db'), unit=' dB')} | |",
        f"| limiter gain reduction | {_reduction_text((ctx.get('result') or {}).get('limiter_reduction_db'))} | |",
        f"| spectral tilt, 100 Hz–10 kHz | {_fmt(measured_mix.get('spectral_tilt_db_per_octave'), '{:+.1f}', ' dB/octave')} | about −1…−3 for a typical mix |",
        "",
    ]
    notes = recipe.get("notes") or []
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    lines += ["## Tracks at a glance", "", "| " + " | ".join(GLANCE_COLUMNS) + " |", "|---" * len(GLANCE_COLUMNS) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in glance_rows(recipe)]
    lines += [
        "",
        "Share of the mix's loudness: each track's partial loudness (its loudness with the rest of the "
        "mix playing, so masking included) as a share of the sum over tracks; multi-mic tracks of one "
        "source share one figure. See `docs/mixing.md`.",
        "",
    ]
    lines += ["## What was done, and why", ""]
    for t in recipe.get("tracks", []):
        lines += [f"### {t['name']}" + (f" ({t['role']})" if t.get("role") else ""), ""]
        locked = set(t.get("locked", []))
        if locked:
            lines.append(f"- **locked by you:** {', '.join(sorted(locked))}")
        lines += decision_lines(t.get("why") or {}, t.get("params", {}))
        lines.append("")
    for bus in ("reverb", "master"):
        section = recipe.get(bus, {}) or {}
        if not section.get("why"):
            continue
        lines += [f"### {bus} bus", ""]
        lines += decision_lines(section["why"], section.get("params", {}))
        lines.append("")
    lines += automation_lines(recipe)
    lines += fidelity_section(ctx)
    lines += style_section(ctx)
    align = recipe.get("alignment")
    if align:
        lines += ["## Multi-mic alignment", ""]
        groups = align.get("groups", [])
        lines.append(
            f"{align.get('pairs_checked', 0)} track pairs checked; {len(groups)} group(s) of tracks sharing a source found."
        )
        lines.append("")
        for entry in (align.get("tracks") or {}).values():
            lines.append(f"- {entry.get('reason', '')}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


#: The columns of the tracks-at-a-glance table (:func:`glance_rows`).
GLANCE_COLUMNS = (
    "track",
    "role",
    "gain",
    "pan",
    "high-pass",
    "EQ",
    "compressor",
    "reverb send",
    "share of the mix's loudness (target)",
)


def glance_rows(recipe: Mapping[str, Any]) -> list[list[str]]:
    """One row of text per track of a recipe's JSON data, in :data:`GLANCE_COLUMNS` order."""
    rows = []
    for t in recipe.get("tracks", []):
        p = t.get("params", {})
        bal = (t.get("measured", {}) or {}).get("balance", {}) or {}
        send = p.get("reverb_send_db")
        loud = f"{100 * bal['share']:.0f} % ({100 * bal['target_share']:.0f} %)" if "share" in bal else "—"
        rows.append(
            [
                t["name"],
                t.get("role", "—"),
                f"{p.get('gain_db', 0):+.1f} dB",
                _pan_text(p.get("pan")),
                _fmt(p.get("hpf_hz"), "{:.0f}", " Hz") if p.get("hpf_hz") else "off",
                _eq_summary(p),
                _comp_summary(p),
                _fmt(send, unit=" dB") if send is not None else "dry",
                loud,
            ]
        )
    return rows


# --------------------------------------------------------------------------- style (match)

#: Broad regions the style table groups third-octave bands into: (title, low Hz, high Hz).
STYLE_REGIONS = (
    ("lows < 120 Hz", 0.0, 120.0),
    ("low mids 120–500 Hz", 120.0, 500.0),
    ("mids 500 Hz–2 kHz", 500.0, 2000.0),
    ("presence 2–6 kHz", 2000.0, 6000.0),
    ("air ≥ 6 kHz", 6000.0, 1e9),
)


def _region_means(features: Mapping[str, Any] | None, name: str) -> list[float | None]:
    if not features or features.get(name) is None:
        return [None] * len(STYLE_REGIONS)
    centres = np.asarray(features["band_centres_hz"], dtype=float)
    values = np.asarray(features[name], dtype=float)
    out: list[float | None] = []
    for _, lo, hi in STYLE_REGIONS:
        sel = (centres >= lo) & (centres < hi)
        out.append(float(values[sel].mean()) if sel.any() else None)
    return out


def style_rows(ctx: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The style comparison of a mix's context (``match``, ``auto``): the header (attribute, then
    start, target, this mix and the reference where there is one) and one row of text per
    attribute; no rows without a style."""
    style = ctx.get("style")
    if not style:
        return [], []
    cols = [(_start_label(ctx), style.get("start")), ("target", style.get("target")), ("this mix", style.get("result"))]
    if style.get("reference"):
        cols.append(("reference", style["reference"]))
    rows = []
    for title, key, unit in (
        ("integrated loudness", "loudness_lufs", " LUFS"),
        ("crest factor", "crest_db", " dB"),
        ("short-term loudness spread", "short_term_spread_lu", " LU"),
        ("width (side/mid, all bands)", "width_overall_db", " dB"),
    ):
        rows.append([title, *(_fmt((f or {}).get(key), unit=unit) for _, f in cols)])
    for name, what in (("spectral_mid_db", "mid level"), ("width_db", "width")):
        per_col = [_region_means(f, name) for _, f in cols]
        for i, (region, _, _) in enumerate(STYLE_REGIONS):
            rows.append([f"{what}, {region}", *(_fmt(vals[i], "{:+.1f}", " dB") for vals in per_col)])
    return ["attribute", *(c for c, _ in cols)], rows


def fidelity_rows_text(ctx: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The reference-fidelity table of a mix's context (``auto`` with a reference: the closed loop,
    :mod:`mixassist.mixers.follow`): header and one row of text per feature — reference, this mix,
    tolerance, ✓/✗ (— when a value is undefined) and, for every ✗, why. No rows without it."""
    fidelity = ctx.get("fidelity") or {}
    rows = []
    start = {r["key"]: r for r in fidelity.get("start_rows") or []}
    for r in fidelity.get("rows") or []:
        unit = f" {r['unit']}"
        mark = "—" if r.get("ok") is None else ("✓" if r["ok"] else "✗")
        before = start.get(r["key"], {}).get("mix")
        rows.append(
            [
                r["feature"],
                _fmt(r.get("reference"), "{:.1f}", unit),
                _fmt(before, "{:.1f}", unit),
                _fmt(r.get("mix"), "{:.1f}", unit),
                f"±{r['tolerance']:g}",
                mark,
                r.get("reason") or "",
            ]
        )
    if not rows:
        return [], []
    return ["feature", "reference", "before the loop", "this mix", "tolerance", "", "why not"], rows


def fidelity_section(ctx: Mapping[str, Any]) -> list[str]:
    """Markdown lines of the reference-fidelity table (:func:`fidelity_rows_text`)."""
    header, rows = fidelity_rows_text(ctx)
    if not rows:
        return []
    fidelity = ctx["fidelity"]
    ok = sum(r[5] == "✓" for r in rows)
    measured = sum(r[5] != "—" for r in rows)
    lines = [
        "## Reference fidelity",
        "",
        f"{ok} of {measured} features within tolerance after {fidelity.get('passes', 0)} pass(es) of the closed loop "
        "(`docs/mixing.md`). Tonal bands are mid/side levels after normalising both signals to −23 LUFS.",
        "",
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
    ]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    lines.append("")
    return lines


def style_section(ctx: Mapping[str, Any]) -> list[str]:
    """Markdown lines comparing the mix's style with the target and the reference (``match``)."""
    style = ctx.get("style")
    if not style:
        return []
    lines = ["## Style: this mix against its target", ""]
    words = ctx.get("words") or []
    if words:
        lines += ["Words asked for:", "", *[f"- {w}" for w in words], ""]
    target = ctx.get("target") or {}
    refs = target.get("references") or []
    if refs:
        lines.append(
            "References: "
            + ", ".join(f"{r['label']} (weight {r['weight']:g})" for r in refs)
            + "; strengths "
            + ", ".join(f"{k} {v:g}" for k, v in (target.get("strengths") or {}).items())
            + "."
        )
        lines.append("")
    header, rows = style_rows(ctx)
    lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += [
        "",
        "Mid levels are dB relative to the total mid power (mean of the third-octave bands in each region); "
        "width is the side-to-mid power ratio. A reference is another song: its spectrum is mostly its content, so "
        "the target takes only its broad shape (`docs/style.md`).",
    ]
    d0, d1 = style.get("distance_start") or {}, style.get("distance_result") or {}
    if d0 and d1:
        lines += ["", "| distance to the target | start | this mix |", "|---|---|---|"]
        for key, value in d1.items():
            lines.append(f"| {key} | {_fmt(d0.get(key), '{:.2f}')} | {_fmt(value, '{:.2f}')} |")
    lines.append("")
    return lines


def style_plot(ctx: Mapping[str, Any], path: str | os.PathLike[str]) -> bool:
    """Write a PNG of mid spectrum and width per band (start, target, mix, reference); False
    when there is no style to plot or matplotlib is missing."""
    style = ctx.get("style")
    if not style:
        return False
    try:
        import matplotlib  # lazy: optional dependency (and 0.5 s to import)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # lazy: optional dependency
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, key, fmt in (
        (_start_label(ctx), "start", ":"),
        ("target", "target", "--"),
        ("this mix", "result", "-"),
        ("reference", "reference", "-."),
    ):
        f = style.get(key)
        if not f or f.get("spectral_mid_db") is None:
            continue
        axes[0].semilogx(f["band_centres_hz"], f["spectral_mid_db"], fmt, label=label)
        if f.get("width_db") is not None:
            axes[1].semilogx(f["band_centres_hz"], f["width_db"], fmt, label=label)
    axes[0].set_title("mid spectrum (dB re total mid power)")
    axes[1].set_title("width per band (side/mid, dB)")
    for ax in axes:
        ax.set_xlabel("Hz")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue(), overwrite=True)
    return True
