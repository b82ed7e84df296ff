"""``report.html``: one self-contained page that opens from disk, with no server.

Audio players for the loudness-matched previews (``previews/``, linked by relative path), the
style plot (embedded as a ``data:`` PNG), how the mix measures, the tracks at a glance and the
style comparison. No external resource (fonts, scripts, styles, images all inline or local),
no JavaScript at all: the players are the browser's own ``<audio controls>``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import Any

from mixassist.previews import Preview
from mixassist.report import (
    GLANCE_COLUMNS,
    automation_plots,
    fidelity_rows_text,
    glance_rows,
    lane_rows,
    sections_text,
    style_rows,
)

__all__ = ["render_html"]

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.players { display: grid; grid-template-columns: repeat(auto-fill, minmax(20em, 1fr)); gap: 0.8em; }
.player { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 0.8em; }
.player audio { width: 100%; } .dim { color: #666; font-size: 0.9em; }
img { max-width: 100%; }
"""

_MEASURES = (
    ("integrated loudness", "integrated_lufs", "{:.1f} LUFS"),
    ("true peak", "true_peak_dbtp", "{:.1f} dBTP"),
    ("loudness range", "loudness_range_lu", "{:.1f} LU"),
    ("peak-to-loudness ratio", "plr_db", "{:.1f} dB"),
    ("stereo correlation", "correlation", "{:+.2f}"),
    ("width (side/mid energy)", "side_mid_db", "{:.1f} dB"),
    ("spectral tilt, 100 Hz–10 kHz", "spectral_tilt_db_per_octave", "{:+.1f} dB/octave"),
)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric_from: int = 1) -> list[str]:
    out = ["<table>", "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(c)}</td>' if i >= numeric_from else f"<td>{_e(c)}</td>" for i, c in enumerate(row)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return out


def _players(previews: Sequence[Preview], length: str) -> list[str]:
    chosen = [p for p in previews if p.length == length]
    if not chosen:
        return []
    out = ['<div class="players">']
    for p in chosen:
        where = f"from {p.start_s:.1f} s, " if length == "excerpt" else ""
        out += [
            '<div class="player">',
            f"<div><strong>{_e(p.label)}</strong></div>",
            f'<audio controls preload="metadata" src="{_e(p.name)}"></audio>',
            f'<div class="dim">{where}gain {p.gain_db:+.1f} dB to {p.loudness_lufs:.1f} LUFS</div>',
            "</div>",
        ]
    out.append("</div>")
    return out


def _automation(recipe: Mapping[str, Any], pngs: Mapping[str, bytes]) -> list[str]:
    """The automation section: the sections, then per automated track its lanes, the reasons
    given for spans of them, and its plot."""
    sections, rows = sections_text(recipe), lane_rows(recipe)
    if not sections and not rows:
        return []
    out = ["<h2>Automation</h2>", *([f"<p>{_e(sections)}</p>"] if sections else [])]
    whys = {t["name"]: t.get("why") or {} for t in recipe.get("tracks", [])}
    whys["master"] = (recipe.get("master") or {}).get("why") or {}
    for owner, file in automation_plots(recipe).items():
        spans = [(key.partition("@"), text) for key, text in whys.get(owner, {}).items() if "@" in key]
        out += [
            f"<h3>{_e(owner)}</h3>",
            "<ul>",
            *(f"<li>{_e(text)}</li>" for who, text in rows if who == owner),
            *(f"<li>{_e(p)} lane, {_e(span.replace('-', '–'))} s: {_e(text)}</li>" for (p, _, span), text in spans),
            "</ul>",
        ]
        if file in pngs:
            data = base64.b64encode(pngs[file]).decode("ascii")
            out.append(f'<img alt="{_e(owner)}: automation over time" src="data:image/png;base64,{data}">')
    return out


def render_html(
    recipe: Mapping[str, Any],
    measured_mix: Mapping[str, Any],
    previews: Sequence[Preview] = (),
    *,
    style_png: bytes | None = None,
    lane_pngs: Mapping[str, bytes] | None = None,
    title: str = "Mix report",
) -> str:
    """The page as text.

    Parameters
    ----------
    recipe : mapping
        The recipe's JSON data (``Recipe.to_dict()``).
    measured_mix : mapping
        The mix's measurements (``report.mix_measurements``).
    previews : sequence of Preview
        The loudness-matched previews; each player's ``src`` is the preview's path relative to
        the output folder (:attr:`Preview.name`), where ``report.html`` is written.
    style_png : bytes, optional
        The style plot, embedded inline.
    lane_pngs : mapping, optional
        ``{file: png}``, the automation plots (:func:`mixassist.report.lane_plots`), embedded
        inline under each automated track.
    """
    ctx = recipe.get("context", {}) or {}
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>Method: <strong>{_e(ctx.get('method', '?'))}</strong>. {_e(recipe.get('sample_rate'))} Hz, "
        f"{len(recipe.get('tracks', []))} tracks. Made by mixassist {_e(recipe.get('mixassist', '?'))}; "
        "<code>mixassist render recipe.json -o mix.wav</code> reproduces it. The full text is in "
        '<a href="report.md">report.md</a>.</p>',
    ]
    if previews:
        level = next((p.loudness_lufs for p in previews if p.length == "excerpt"), None)
        out += [
            "<h2>Listen: loudness-matched previews</h2>",
            "<p>Every player of a row plays at the same integrated loudness"
            + (f" ({level:.1f} LUFS for the excerpts)" if level is not None else "")
            + ", so what differs is the mix, not the level. The excerpt is the loudest "
            "section of the mix (a reference's own loudest section).</p>",
            "<h3>Excerpts</h3>",
            *_players(previews, "excerpt"),
            "<h3>Full length</h3>",
            *_players(previews, "full"),
        ]
    rows = []
    for title_, key, spec in _MEASURES:
        value = measured_mix.get(key)
        rows.append([title_, "—" if value is None else spec.format(value)])
    out += ["<h2>The mix</h2>", *_table(["measure", "value"], rows)]
    notes = recipe.get("notes") or []
    if notes:
        out += ["<h2>Notes</h2>", "<ul>", *(f"<li>{_e(n)}</li>" for n in notes), "</ul>"]
    out += ["<h2>Tracks at a glance</h2>", *_table(GLANCE_COLUMNS, glance_rows(recipe), numeric_from=2)]
    header, fidelity = fidelity_rows_text(ctx)
    if fidelity:
        out += ["<h2>Reference fidelity</h2>", *_table(header, fidelity)]
    header, style = style_rows(ctx)
    if style:
        out += [
            "<h2>Style: this mix against its target and the reference</h2>",
            *_table(header, style),
            "<p class='dim'>Mid levels are dB relative to the total mid power; width is the side-to-mid "
            "power ratio (docs/style.md).</p>",
        ]
    out += _automation(recipe, lane_pngs or {})
    if style_png:
        data = base64.b64encode(style_png).decode("ascii")
        out += [
            "<h2>Style plot</h2>",
            f'<img alt="mid spectrum and width per band" src="data:image/png;base64,{data}">',
        ]
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
