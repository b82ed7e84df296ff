"""Synthesise realistic dry multitrack songs, deterministic from a seed.

Songs are either excerpts of multi-part scores from the music21 corpus (chorales, string
quartets, madrigals) orchestrated for a plausible ensemble, or procedurally generated pop,
rock, electronic and jazz arrangements with real recorded drums (licence-filtered Hydrogen
kits) and Sonic Pi loops.  Melodic parts are rendered by fluidsynth with one of two General
MIDI soundfonts, reverb and chorus off.  Stems get drawn recording levels (-35...-10 LUFS),
mono or stereo (spaced pairs), and some songs carry multi-microphone pairs of one source
(``kick_in``/``kick_out``, ``bass_di``/``bass_amp``, ...) with their true delay and polarity.

>>> from mixassist.data.synth import synthesize_dataset
>>> synthesize_dataset("data/synth", songs=6, seconds=20, seed=0)  # doctest: +SKIP

Needs ``apt-get install fluidsynth fluid-soundfont-gm musescore-general-soundfont-small
hydrogen-drumkits sonic-pi-samples``; scores also need ``pip install 'mixassist[data]'``
(music21).  See ``docs/data.md`` for the folder layout and ``song.json``.
"""

from mixassist.data.synth.arrangement import KINDS, ROLES
from mixassist.data.synth.dataset import song_seed, synthesize_dataset
from mixassist.data.synth.render import FluidSynthRenderer, Renderer, SynthesisError
from mixassist.data.synth.song import SongSpec, synthesize_song

__all__ = [
    "KINDS",
    "ROLES",
    "FluidSynthRenderer",
    "Renderer",
    "SongSpec",
    "SynthesisError",
    "song_seed",
    "synthesize_dataset",
    "synthesize_song",
]
