"""Dataset synthesis and ground truth for training and evaluating mixers.

* :mod:`mixassist.data.synth` — dry multitrack songs from scores, procedural arrangements and
  real drum samples (needs fluidsynth and soundfonts; music21 for scores: ``mixassist[data]``);
* :mod:`mixassist.data.priors` — realistic mix-style priors turned into console settings;
* :mod:`mixassist.data.references` — per song, a reference mix of another song and the
  song's own ``target_mix`` in that style, with every setting in ``truth.json``;
* :mod:`mixassist.data.engine_b` — an independent second engine (own sources, processors and
  styles; none of the above, the console or the mixers) for out-of-distribution validation.
"""
