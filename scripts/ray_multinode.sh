#!/usr/bin/env bash
# A multi-node Ray cluster simulated on this machine, then `mixassist batch --ray HEAD` on it.
#
# The head schedules only (--num-cpus 0); two worker nodes of one CPU each are separate raylets
# started by separate `ray start --address` commands, as on separate machines. So every song runs
# on a worker node, and the batch finishes only if tasks really travel to them. The songs (4 x 2 s,
# 3 stems, 22050 Hz) are made here in a temporary folder every node can read, as a shared
# filesystem would be on a real cluster. Each `ray start --block` runs in the background and is
# stopped by its own process id at the end (no `ray stop`, which would stop every Ray on the machine).
#
#   scripts/ray_multinode.sh            # PYTHON=.venv/bin/python by default, port 6390
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
PORT="${PORT:-6390}"
RAY="$(dirname "$PYTHON")/ray"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"  # the workers import this tree's mixassist
export RAY_USAGE_STATS_ENABLED=0
# Ray >= 2.5x authenticates every node and client with a token (~/.ray/auth_token): one for all.
export RAY_AUTH_MODE=token
"$RAY" get-auth-token --generate >/dev/null
WORK="$(mktemp -d /tmp/mixassist-multinode.XXXXXX)"
PIDS=()
stop() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    # the head's address file (what a bare ray.init() would connect to), if it is still ours
    if grep -qs ":$PORT\$" /tmp/ray/ray_current_cluster; then rm -f /tmp/ray/ray_current_cluster; fi
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap stop EXIT

echo "== head: 127.0.0.1:$PORT, 0 CPUs (schedules only)"
"$RAY" start --head --block --port "$PORT" --num-cpus 0 \
    --include-dashboard false --disable-usage-stats >"$WORK/head.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 60); do "$RAY" status --address "127.0.0.1:$PORT" >/dev/null 2>&1 && break; sleep 1; done
nodes() { "$RAY" status --address "127.0.0.1:$PORT" 2>/dev/null | grep -c " node_" || true; }
for n in 1 2; do
    # One after another, each with its own agent port: the nodes share this machine's ports
    # (on separate machines the defaults would do).
    echo "== worker node $n: 1 CPU"
    "$RAY" start --block --address "127.0.0.1:$PORT" --num-cpus 1 --disable-usage-stats \
        --dashboard-agent-listen-port $((52365 + n)) >"$WORK/worker$n.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 120); do [ "$(nodes)" -ge $((n + 1)) ] && break; sleep 1; done
    [ "$(nodes)" -ge $((n + 1)) ] || { echo "worker node $n did not join:"; tail -5 "$WORK/worker$n.log"; exit 1; }
done
"$RAY" status --address "127.0.0.1:$PORT" | sed -n '/Node status/,/Pending/p'

"$PYTHON" - "$WORK/songs" <<'EOF'
import sys
from pathlib import Path

import numpy as np

from mixassist.audio.io import save_audio

sr, root = 22050, Path(sys.argv[1])
for k, name in enumerate(["song_a", "song_b", "song_c", "song_d"]):
    rng, t = np.random.default_rng(k), np.arange(2 * sr) / sr
    env = np.exp(-((t % 0.5) / 0.5) * 8)
    (root / name).mkdir(parents=True)
    save_audio(root / name / "bass.wav", (0.3 * np.sin(2 * np.pi * (55 + 5 * k) * t) * (0.6 + 0.4 * env))[None], sr, 24)
    save_audio(root / name / "drums.wav", (0.5 * rng.standard_normal(t.size) * env**4)[None], sr, 24)
    save_audio(root / name / "keys.wav", 0.1 * np.stack([np.sin(2 * np.pi * 330 * t + p) for p in (0, 0.3)]), sr, 24)
EOF

echo "== mixassist batch --ray 127.0.0.1:$PORT"
start=$(date +%s)
"$PYTHON" -m mixassist batch "$WORK/songs" -o "$WORK/out" --method neural --ray "127.0.0.1:$PORT"
echo "== summary.csv ($(($(date +%s) - start)) s)"
cat "$WORK/out/summary.csv"
ls "$WORK/out"
