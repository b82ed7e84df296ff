# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The stamp changes whenever the pins or the project metadata change, so edits re-install.
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
# Tests run in two processes (pytest-xdist), whole files per worker (the README examples share
# /tmp paths; tests/conftest.py hands out the longest files first), each process with one
# torch/OpenMP thread so the two do not fight for the cores: pytest 3.8 min, the whole `make test`
# 6.0 min from a fresh clone on 2 cores. `make test PYTEST_ARGS=` runs them in one process.
PYTEST_ARGS ?= -n auto --dist loadfile

.PHONY: venv test lint demo demo-data data clean bench

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_APT := fluidsynth fluid-soundfont-gm hydrogen-drumkits
# report.html is checked in real headless Chromium (tests/test_report_html.py); where it cannot be
# installed, that one test is skipped and says why.
TEST_APT := chromium chromium-driver

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python scripts/warm_numba.py  # compile the numba kernels into their cache once, now
	@rm -f $(VENV)/.installed-*
	@touch $@

test: lint
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(TEST_APT)) || \
		echo "chromium could not be installed: the browser test will be skipped"
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# The house rules (docs/architecture.md): import direction (import-linter), lint and format (ruff), types (mypy).
lint: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check src
	$(BIN)/ruff format --check src
	$(BIN)/mypy -n 2  # two worker processes: the fresh clone has no cache

# Mixes the bundled demo with the knowledge-based mixer, riding the lead (mix.wav, recipe.json, report.md,
# report.html, previews/, the ride's plot in automation/ and the printed stems in printed/), writes the DAWproject session song.dawproject and the
# REAPER project song.rpp, then
# re-renders the recipe to show it reproduces the mix, and measures the mix beside the reference;
# then toward the reference's style with the solver (demo-out/match/: its report.html and previews/ play the
# reference beside the mix at equal loudness), the neural controller (demo-out/neural/) and the default
# with a reference, the closed loop (demo-out/follow/: the report's Reference fidelity table).
demo: $(STAMP)
	$(BIN)/mixassist mix examples/demo/stems -o demo-out --overwrite --stems --ride
	$(BIN)/mixassist export demo-out/recipe.json --format dawproject -o demo-out/song.dawproject --overwrite
	$(BIN)/mixassist export demo-out/recipe.json --format reaper -o demo-out/song.rpp --overwrite
	$(BIN)/mixassist render demo-out/recipe.json -o demo-out/mix-from-recipe.wav --overwrite
	$(BIN)/mixassist analyze demo-out/mix.wav examples/demo/reference.flac
	$(BIN)/mixassist mix examples/demo/stems -o demo-out/match --reference examples/demo/reference.flac --method match --time-budget 30 --overwrite
	$(BIN)/mixassist mix examples/demo/stems -o demo-out/neural --reference examples/demo/reference.flac --method neural --overwrite
	$(BIN)/mixassist mix examples/demo/stems -o demo-out/follow --reference examples/demo/reference.flac --overwrite

# Regenerates examples/demo/ (committed, so `make demo` never needs this): installs the synthesis tools first.
demo-data: $(STAMP)
	@dpkg -s $(DEMO_APT) >/dev/null 2>&1 || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEMO_APT))
	$(BIN)/python scripts/make_demo_data.py --out examples/demo

# Synthesises an evaluation set (installs what synthesis needs first: fluidsynth, soundfonts, drum kits, music21).
DATA_APT := fluidsynth fluid-soundfont-gm musescore-general-soundfont-small hydrogen-drumkits sonic-pi-samples
DATA_SONGS ?= 8
DATA_SECONDS ?= 20
data: $(STAMP)
	@dpkg -s $(DATA_APT) >/dev/null 2>&1 || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DATA_APT))
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'music21>=9'
	$(BIN)/mixassist data synth --songs $(DATA_SONGS) --seconds $(DATA_SECONDS) --seed 0 --out data/eval

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pedalboard==0.9.26 dasp-pytorch==0.0.1
	$(BIN)/python benchmarks/console_speed.py --json
	$(BIN)/python -m pip install --quiet --disable-pip-version-check matchering==2.0.6
	$(BIN)/python benchmarks/match_speed.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache
