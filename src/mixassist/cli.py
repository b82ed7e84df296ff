"""The ``mixassist`` command: parse, call the public API, print.

A user error (:class:`~mixassist.errors.MixAssistError`) prints one line naming the
file and the reason on stderr and exits with code 2; no traceback.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from mixassist.cli_batch import MEMORY_PER_WORKER_GB, RayOption, WorkersOption
from mixassist.cli_batch import register as register_batch
from mixassist.cli_export import register as register_export
from mixassist.cli_serve import register as register_serve
from mixassist.delivery import DELIVERY_TARGETS, delivery_target
from mixassist.errors import InvalidParameterError, MixAssistError
from mixassist.executors import make_executor
from mixassist.mixers.base import MIXERS
from mixassist.outputs import check_mix_outputs, check_render_outputs, mix_size_bytes
from mixassist.terminal import bar, err, out, song_progress, with_bar
from mixassist.version import __version__

# Only light modules at the top (typer, rich, the file checks): every command that writes checks
# its outputs first and imports the mixing code (numpy, scipy, torch, numba: seconds) after, so a
# bad --bit-depth, extension or folder is refused at once (tests/test_cli_early_checks.py).

app = typer.Typer(
    name="mixassist",
    help="Assistive, context-aware multitrack mixing.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_USER_ERROR = 2

# Options that more than one command takes, spelled once.
_BitDepthOption = Annotated[int, typer.Option("--bit-depth", help="16 or 24 (PCM, dithered) or 32 (float WAV).")]
_OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (never an input).")]
_LockOption = Annotated[
    list[str] | None,
    typer.Option(
        "--lock", help="Keep a setting: TRACK.PARAM=VALUE, TRACK.PARAM, 'TRACK.*', master.PARAM=VALUE. Repeatable."
    ),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"mixassist {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show progress details.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_time=False, show_path=False)],
        force=True,
    )


# Measure, unit, report field, number format.
_MEASURES = [
    ("Integrated loudness", "LUFS", "integrated_lufs", "{:.1f}"),
    ("Loudness range", "LU", "loudness_range_lu", "{:.1f}"),
    ("True peak", "dBTP", "true_peak_dbtp", "{:.1f}"),
    ("Sample peak", "dBFS", "sample_peak_dbfs", "{:.1f}"),
    ("Momentary max", "LUFS", "momentary_max_lufs", "{:.1f}"),
    ("Short-term max", "LUFS", "short_term_max_lufs", "{:.1f}"),
    ("PLR", "dB", "plr_db", "{:.1f}"),
    ("Correlation", "", "correlation", "{:.2f}"),
    ("Side/mid", "dB", "side_mid_db", "{:.1f}"),
]
_FILES_PER_TABLE = 4


@app.command()
def analyze(
    files: Annotated[list[Path], typer.Argument(help="Audio files to measure.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print strict JSON instead of a table.")] = False,
    downmix: Annotated[
        bool, typer.Option("--downmix", help="Average files with more than 2 channels to mono.")
    ] = False,
) -> None:
    """Measure loudness (BS.1770 / EBU R128), true peak, PLR, stereo image and DC offset of each FILE."""

    from mixassist.api import analyze_file  # lazy: numpy and scipy (see the imports)

    rows = []
    for path in files:
        report = analyze_file(path, downmix=downmix)
        rows.append({"file": str(path), **report.to_dict()})
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, allow_nan=False) + "\n")
        return
    for first in range(0, len(rows), _FILES_PER_TABLE):
        group = rows[first : first + _FILES_PER_TABLE]
        table = Table(header_style="bold")
        table.add_column("Measure")
        table.add_column("Unit", style="dim")
        for row in group:
            table.add_column(Path(row["file"]).name, justify="right", overflow="fold")
        for title, unit, key, fmt in _MEASURES:
            table.add_row(title, unit, *("—" if r[key] is None else fmt.format(r[key]) for r in group))
        table.add_row("DC offset", "dBFS", *(_per_channel(r["dc_offset_dbfs"], "{:.1f}") for r in group))
        table.add_row("DC offset", "linear", *(_per_channel(r["dc_offset"], "{:+.6f}") for r in group))
        out.print(table)
    for row in rows:
        for key, reason in row["reasons"].items():
            out.print(f"[dim]{Path(row['file']).name}: {key} undefined: {reason}[/dim]", highlight=False)


def _per_channel(values: list[float], fmt: str) -> str:
    """One reading per channel: ``L … R …`` for stereo, the bare value for mono."""
    if not values:
        return "—"
    if len(values) == 1:
        return fmt.format(values[0])
    return " ".join(f"{side} {fmt.format(v)}" for side, v in zip("LR", values, strict=False))


def _stage_bar() -> Progress:
    """A transient bar on stderr that names the stage a long job is in (mix, reverse)."""
    return bar(TextColumn("{task.description:<34}"), TimeElapsedColumn())


def _method_help() -> str:
    """``--method``'s help, from the one registry of mixers."""
    named = [f"{e.name} ({e.summary})" for e in MIXERS.values()]
    return f"{', '.join(named[:-1])} or {named[-1]}; default: auto when --reference or --describe is given, else rules."


@app.command()
def render(
    recipe: Annotated[
        Path, typer.Argument(help="Recipe JSON (file paths inside are relative to it).", show_default=False)
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Mix file to write (.wav or .flac).", show_default=False)
    ],
    bit_depth: _BitDepthOption = 24,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists (never an input).")
    ] = False,
    save_recipe: Annotated[
        Path | None,
        typer.Option("--save-recipe", help="Also write the recipe here (stem paths rewritten for its folder)."),
    ] = None,
) -> None:
    """Render exactly what RECIPE says and write the mix."""
    check_render_outputs(output, bit_depth=bit_depth, overwrite=overwrite, save_recipe=save_recipe, protect=[recipe])
    from mixassist.api import render_recipe  # lazy: after the output checks (see the imports)

    result = with_bar(
        "rendering",
        lambda progress: render_recipe(
            recipe, output, bit_depth=bit_depth, overwrite=overwrite, save_recipe=save_recipe, progress=progress
        ),
    )
    seconds = result.mix.shape[1] / result.sample_rate
    out.print(f"wrote {output} ({seconds:.1f} s, {result.sample_rate} Hz, {bit_depth}-bit)")


@app.command("mix")
def mix_command(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Folder for mix.wav, recipe.json, report.md, report.html and previews/.",
            show_default=False,
        ),
    ],
    stems: Annotated[
        list[Path] | None,
        typer.Argument(help="Stem files, or a folder of them (default with --from: the recipe's).", show_default=False),
    ] = None,
    from_recipe: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Start from a previous recipe's settings: its locks and ranges are kept, the rest is re-solved.",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help=f"Delivery preset ({'|'.join(DELIVERY_TARGETS)}): loudness, true-peak ceiling and format; "
            "--loudness, --true-peak, --bit-depth and --sample-rate override it (docs/delivery.md).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary (paths, measures, method, timings) on stdout.")
    ] = False,
    loudness: Annotated[
        float | None,
        typer.Option(
            "--loudness",
            help="Integrated loudness of the mix, LUFS (default: the --target's, else the reference's, else -14).",
            show_default=False,
        ),
    ] = None,
    true_peak: Annotated[
        float | None, typer.Option("--true-peak", help="True-peak ceiling, dBTP (default: the --target's, else -1).")
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference",
            "-r",
            help="Reference song whose mix style to match; REF:WEIGHT to weight several. Repeatable.",
        ),
    ] = None,
    describe: Annotated[
        str | None,
        typer.Option(
            "--describe",
            help="Words: brighter, darker, warmer, thinner, wider, narrower, punchier, smoother, drier, wetter, louder, more dynamic, 'TRACK forward/back' (docs/style.md).",
        ),
    ] = None,
    match: Annotated[
        str | None,
        typer.Option("--match", help="Strength 0-1 per attribute: tone=1,width=0.5,dynamics=0.7,loudness=1."),
    ] = None,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", help="Most seconds the style solver may optimise.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the style solver (same inputs and seed, same mix).")] = 0,
    lock: _LockOption = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            help="Set a track's role: TRACK=ROLE (lead, bass, drums, percussion, chords, pad, arp, fx). Repeatable.",
        ),
    ] = None,
    value_range: Annotated[
        list[str] | None, typer.Option("--range", help="Limit a setting: TRACK.PARAM=LOW:HIGH. Repeatable.")
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help=_method_help(),
            show_default=False,
        ),
    ] = None,
    no_align: Annotated[bool, typer.Option("--no-align", help="Do not correct multi-mic delay/polarity.")] = False,
    sample_rate: Annotated[
        int | None, typer.Option("--sample-rate", help="Session rate in Hz (default: the most common stem rate).")
    ] = None,
    downmix: Annotated[
        bool, typer.Option("--downmix", help="Average stems with more than 2 channels to mono.")
    ] = False,
    bit_depth: Annotated[
        int | None, typer.Option("--bit-depth", help="16 or 24 (PCM, dithered) or 32 (float WAV); default 24.")
    ] = None,
    overwrite: _OverwriteOption = False,
    print_stems: Annotated[
        bool,
        typer.Option(
            "--stems", help="Also print every track after its strip, and the reverb return, to OUTPUT/printed/."
        ),
    ] = False,
    ride: Annotated[
        bool,
        typer.Option(
            "--ride",
            help=(
                "Ride the lead's fader (an automation lane) so it sits steadily in the mix, with any method; "
                "with rules the mix also moves with the sections (chorus lift, solo forward, sends)."
            ),
        ),
    ] = False,
    ride_track: Annotated[
        str | None, typer.Option("--ride-track", help="Ride this track instead of the lead (implies --ride).")
    ] = None,
    sections: Annotated[
        Path | None,
        typer.Option("--sections", help="The song's sections: a CSV of start_s,stop_s,label lines.", dir_okay=False),
    ] = None,
) -> None:
    """Mix STEMS: propose console settings with a reason for each, render, and report."""
    clock = [time.perf_counter()]
    preset = delivery_target(target) if target is not None else None
    bit_depth = bit_depth or (preset.bit_depth if preset else None) or 24
    sample_rate = sample_rate or (preset.sample_rate if preset else None)
    if loudness is None and preset is not None:
        loudness = preset.loudness_lufs
    true_peak = true_peak if true_peak is not None else (preset.ceiling_dbtp if preset else -1.0)
    # The outputs are checked first: a bad bit depth or folder fails in a moment, not after the mix.
    check_mix_outputs(out_dir, overwrite=overwrite, html=True, bit_depth=bit_depth)
    from mixassist.api import mix, mix_request, resume_settings  # lazy: after the output checks (see the imports)
    from mixassist.audio.multitrack import load_multitrack  # lazy: numpy and scipy

    resume = resume_settings(from_recipe) if from_recipe is not None else None
    if not stems and resume is None:
        raise InvalidParameterError("mix: give the stems (files or a folder), or --from a previous recipe")
    if resume is not None:
        lock, value_range, role = (
            [*resume.lock, *(lock or [])],
            [*resume.ranges, *(value_range or [])],
            [*resume.roles, *(role or [])],
        )
    from mixassist.style.target import parse_reference_spec  # lazy: the style package pulls in torch

    # Every user input is checked, once, before the stems are loaded and the work starts.
    request = mix_request(
        reference=[parse_reference_spec(spec) for spec in reference or []],
        describe=describe,
        match=match,
        method=method,
        loudness_lufs=loudness,
        true_peak_dbtp=true_peak,
        lock=lock,
        roles=role,
        ranges=value_range,
        align=not no_align,
        start=resume.start if resume is not None else None,
        time_budget_s=time_budget,
        seed=seed,
        out_dir=out_dir,
        overwrite=overwrite,
        bit_depth=bit_depth,
        downmix=downmix,
        ride=ride,
        ride_track=ride_track,
        sections=sections,
    )
    if stems:
        multitrack = load_multitrack(stems, sample_rate=sample_rate, downmix=downmix)
    else:  # the recipe's stems under the recipe's names, so its settings and locks apply
        multitrack = resume.load_stems(sample_rate=sample_rate, downmix=downmix)  # type: ignore[union-attr]
    check_mix_outputs(
        out_dir,
        [*multitrack.sources, *request.reference_files],
        overwrite=request.overwrite,
        style=request.mixer.plots_style,
        html=True,
        bit_depth=request.bit_depth,
        needed_bytes=mix_size_bytes(
            multitrack.num_samples,
            request.bit_depth,
            stems=len(multitrack) + 1 if print_stems else 0,
            previews=2 + len(request.target.references),
        ),
        printed=multitrack.names if print_stems else (),
    )
    clock.append(time.perf_counter())
    with _stage_bar() as bar:
        task = bar.add_task("measuring tracks", total=1.0)
        result = mix(
            multitrack,
            request,
            progress=lambda stage, fraction: bar.update(task, description=stage[:34], completed=fraction),
        )
        bar.update(task, description="writing", completed=1.0)
        clock.append(time.perf_counter())
        paths = result.save(out_dir, overwrite=request.overwrite, bit_depth=request.bit_depth, stems=print_stems)
    clock.append(time.perf_counter())
    if as_json:
        steps = ("checks and loading", "mixing", "writing")
        timings = {step: round(b - a, 3) for step, a, b in zip(steps, clock[:-1], clock[1:], strict=True)}
        summary = result.summary(paths, timings_s={**timings, "total": round(clock[-1] - clock[0], 3)}, target=target)
        sys.stdout.write(json.dumps(summary, indent=2, allow_nan=False, default=float) + "\n")
        return
    m = result.measured
    fmt = lambda v, spec: "—" if v is None else spec.format(v)  # noqa: E731
    out.print(
        f"mixed {len(multitrack)} tracks ({multitrack.duration_s:.1f} s): "
        f"{fmt(m.get('integrated_lufs'), '{:.1f}')} LUFS, true peak {fmt(m.get('true_peak_dbtp'), '{:.1f}')} dBTP, "
        f"correlation {fmt(m.get('correlation'), '{:+.2f}')}"
    )
    for note in result.proposal.reasons.notes:
        out.print(f"note: {note}", highlight=False)
    for key in ("mix", "recipe", "report", "html", "previews", "style", "printed"):
        if key in paths:
            out.print(f"wrote {paths[key]}")


@app.command("params")
def list_params(
    section: Annotated[str | None, typer.Argument(help="track, reverb or master (default: all).")] = None,
) -> None:
    """List every console parameter: name, range, default and meaning."""
    from mixassist.console.schema import SECTIONS  # lazy: the console package pulls in torch

    if section is not None and section not in SECTIONS:
        raise typer.BadParameter(f"'{section}' is not one of {', '.join(SECTIONS)}")
    for name, params in SECTIONS.items():
        if section not in (None, name):
            continue
        table = Table(title=f"{name} parameters", header_style="bold")
        for col in ("name", "range", "default", "scale", "meaning"):
            table.add_column(col)
        for p in params:
            default = "off" if p.default is None else f"{p.default:g}"
            table.add_row(p.name, p.describe_range(), default, p.scale, p.doc)
        out.print(table)


data_app = typer.Typer(help="Synthesise evaluation/training data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _progress_bar(label: str, *more: ProgressColumn) -> Progress:
    """A lasting bar on stderr: ``label``, the bar, items done of all, the time taken and ``more``."""
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), *more, console=err, transient=False
    )


# The options of the `data` commands.
_DataOutOption = Annotated[
    Path, typer.Option("--out", "-o", help="Dataset folder (created; resumed if it exists).", show_default=False)
]
_SongsOption = Annotated[
    int, typer.Option("--songs", min=2, help="Number of songs (≥ 2: references come from other songs).")
]
_SecondsOption = Annotated[float, typer.Option("--seconds", min=2.0, help="Length of each song.")]
_SeedOption = Annotated[int, typer.Option("--seed", help="Everything is deterministic from this.")]


@data_app.command("synth")
def data_synth(
    out_dir: _DataOutOption,
    songs: _SongsOption = 8,
    seconds: _SecondsOption = 20.0,
    seed: _SeedOption = 0,
    workers: WorkersOption = None,
    ray: RayOption = None,
) -> None:
    """Synthesise dry multitrack songs, then a reference and a ground-truth target mix for each."""
    # lazy: the synthesiser pulls in torch and the console; `--help` stays fast
    from mixassist.data.references import make_references
    from mixassist.data.synth import synthesize_dataset

    executor = make_executor(workers, ray, memory_per_worker_gb=MEMORY_PER_WORKER_GB)
    with _progress_bar("synthesising songs") as bar:
        task = bar.add_task("songs", total=songs)
        synthesize_dataset(
            out_dir,
            songs=songs,
            seconds=seconds,
            seed=seed,
            executor=executor,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    with _progress_bar("references and targets") as bar:
        task = bar.add_task("refs", total=songs)
        make_references(
            out_dir,
            seed=seed,
            executor=executor,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    out.print(f"wrote {songs} songs to {out_dir}")


@data_app.command("engine-b")
def data_engine_b(
    split: Annotated[str, typer.Option("--split", help="val (for choices) or test (only the benchmark reads it).")],
    out_dir: _DataOutOption,
    songs: _SongsOption = 8,
    seconds: _SecondsOption = 20.0,
    seed: _SeedOption = 0,
) -> None:
    """Engine B: an independent second data engine (own sources, processors, styles) for out-of-distribution checks."""
    if split not in ("val", "test"):  # refused before the heavy imports, like every output check here
        raise InvalidParameterError(f"--split {split!r}: use val (for choices) or test (read only by the benchmark)")
    from mixassist.data.engine_b import generate_split  # lazy: numba and scipy; `--help` stays fast

    with _progress_bar(f"engine B {split}", TextColumn("{task.description}")) as bar:
        task = bar.add_task("", total=2 * songs)
        generate_split(
            out_dir, split, songs=songs, seconds=seconds, seed=seed,
            progress=lambda done, total, what: bar.update(task, completed=done, total=total, description=what),
        )  # fmt: skip
    out.print(f"wrote {songs} engine-B {split} songs to {out_dir}")


@app.command("eval")
def evaluate(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder from `mixassist data synth`.", show_default=False)],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Report folder (results.json, results.md, plots/).", show_default=False)
    ],
    methods: Annotated[
        str, typer.Option("--methods", help="Comma-separated method names.")
    ] = "sum,equal_loudness,equal_loudness_matched",
    plugin: Annotated[
        list[Path] | None, typer.Option("--plugin", help="Python file registering extra methods (e.g. GPL baselines).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, help="Songs evaluated at once, in worker processes (1: in this process)."),
    ] = 1,
    ray: RayOption = None,
) -> None:
    """Run mixing methods and baselines on every song and compare them in one table."""
    from mixassist.evaluate.harness import (  # lazy: torch
        SUMMARY_METRICS,
        evaluable_songs,
        evaluate_dataset,
        load_plugin,
    )

    for path in plugin or []:
        load_plugin(path)
    names = [m.strip() for m in methods.split(",") if m.strip()]
    if ray is None and workers == 1:  # in this process, as before: the status names song and method
        with err.status("evaluating") as status:
            results = evaluate_dataset(
                dataset, names, out_dir, progress=lambda what: status.update(f"evaluating {what}")
            )
    else:
        executor = make_executor(workers, ray)
        with song_progress("eval", len(evaluable_songs(dataset))) as done:
            results = evaluate_dataset(dataset, names, out_dir, executor=executor, plugins=plugin or (), on_song=done)

    table = Table(title=f"mean over {len(results['songs'])} songs, against target_mix", header_style="bold")
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right", overflow="fold")
    for key, title in [*SUMMARY_METRICS, ("wall_s", "time s")]:
        values = [
            results["mean"][n]["wall_s"] if key == "wall_s" else results["mean"][n]["vs_target"].get(key) for n in names
        ]
        table.add_row(title, *("—" if v is None else f"{v:.2f}" for v in values))
    table.add_row(
        "masked frac (abs)",
        *("—" if (v := results["mean"][n].get("masking_fraction")) is None else f"{v:.2f}" for n in names),
    )
    out.print(table)
    out.print(f"report: {out_dir / 'results.md'}")


@app.command("train")
def train_command(
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="TOML training config (configs/neural.toml ships the one behind the shipped weights).",
            show_default=False,
        ),
    ],
    steps: Annotated[
        int | None, typer.Option("--steps", help="Override the config's step count.", show_default=False)
    ] = None,
    work_dir: Annotated[
        str | None,
        typer.Option(
            "--work-dir", help="Override the config's work folder (checkpoints, cache, log).", show_default=False
        ),
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Override where the weights are written.", show_default=False)
    ] = None,
) -> None:
    """Train the neural controller (resumes from the work folder's checkpoint)."""
    from mixassist.train import load_config, train  # lazy: training pulls in torch; `--help` stays fast

    cfg = load_config(config, steps=steps, work_dir=work_dir, output=output)
    with _progress_bar("{task.description}", TimeRemainingColumn()) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        summary = train(cfg, progress=progress, log=lambda text: bar.console.print(text))
    out.print(
        f"wrote {cfg.output} ({summary['parameters']:,} parameters, {summary['steps']} steps; "
        f"validation loss {summary['validation']['total']:.4f})"
    )


@app.command("reverse")
def reverse_command(
    stems: Annotated[
        list[Path],
        typer.Argument(help="Stem files, or a folder of them (sample-aligned with the mix).", show_default=False),
    ],
    mix_file: Annotated[Path, typer.Option("--mix", help="The finished mix of these stems.", show_default=False)],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for recipe.json, mix.wav (re-render) and report.md.", show_default=False
        ),
    ],
    lock: _LockOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same result.")] = 0,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", help="Seconds to spend refining (default: all steps).")
    ] = None,
    sample_rate: Annotated[
        int | None,
        typer.Option("--sample-rate", help="Session rate in Hz (default: the mix's rate; stems are resampled to it)."),
    ] = None,
    downmix: Annotated[
        bool, typer.Option("--downmix", help="Average files with more than 2 channels to mono.")
    ] = False,
    bit_depth: _BitDepthOption = 24,
    overwrite: _OverwriteOption = False,
) -> None:
    """Recover the console settings that reproduce MIX from STEMS, with a confidence for each."""
    check_mix_outputs(out_dir, [mix_file], overwrite=overwrite, bit_depth=bit_depth)  # fail before the work
    from mixassist.api import reverse  # lazy: after the output checks (see the imports)
    from mixassist.audio.io import load_audio  # lazy: numpy and scipy
    from mixassist.audio.multitrack import load_multitrack  # lazy: numpy and scipy

    mix_audio, mix_rate = load_audio(mix_file, downmix=downmix)
    multitrack = load_multitrack(stems, sample_rate=sample_rate or mix_rate, downmix=downmix)
    check_mix_outputs(
        out_dir,
        [*multitrack.sources, mix_file],
        overwrite=overwrite,
        bit_depth=bit_depth,
        needed_bytes=mix_size_bytes(multitrack.num_samples, bit_depth),
    )
    with _stage_bar() as bar:
        task = bar.add_task("closed-form estimate", total=1.0)
        result = reverse(
            multitrack,
            mix_audio,
            mix_rate,
            lock=lock,
            seed=seed,
            time_budget_s=time_budget,
            mix_path=mix_file,
            progress=lambda stage, fraction: bar.update(task, description=stage, completed=fraction),
        )
        bar.update(task, description="writing", completed=1.0)
        paths = result.save(out_dir, overwrite=overwrite, bit_depth=bit_depth)
    mr = result.result.mrstft
    out.print(
        f"recovered settings for {len(multitrack)} tracks ({multitrack.duration_s:.1f} s): "
        f"MRSTFT to the given mix {'—' if mr is None else f'{mr:.3f}'}"
    )
    for note in result.result.notes:
        out.print(f"note: {note}", highlight=False)
    for key in ("recipe", "mix", "report"):
        out.print(f"wrote {paths[key]}")


register_export(app)
register_batch(app)
register_serve(app)


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwinds like ``KeyboardInterrupt`` (outputs being written are
    discarded on the way out), then :func:`main` prints one line and exits ``128 + signal``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, frame: object) -> None:
    raise Interrupted(signum)


_SIGNAL_WORDS = {signal.SIGINT.value: "interrupted", signal.SIGTERM.value: "terminated"}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mixassist`` console script."""
    previous: dict[int, Any] = {}
    for signum in _SIGNAL_WORDS:
        try:
            previous[signum] = signal.signal(signum, _on_signal)
        except ValueError:  # not the main thread (an embedding program): leave its handlers
            pass
    try:
        app(args=argv, prog_name="mixassist")
    except MixAssistError as exc:
        err.print(f"mixassist: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)
    except (Interrupted, KeyboardInterrupt) as exc:
        number = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT.value
        err.print(f"mixassist: {_SIGNAL_WORDS.get(number, 'interrupted')}", markup=False, highlight=False)
        sys.exit(128 + number)
    except OSError as exc:  # a system error no check foresaw: still one line, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(f"mixassist: error: {where}{exc.strerror or exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_USER_ERROR)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


if __name__ == "__main__":  # pragma: no cover
    main()
