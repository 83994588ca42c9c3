#!/usr/bin/env bash
# Issue 17: another client's exchange during a 3,000-brain spawn into free slots, with the draw's
# pauses off ("off": SF_BREATHE=0,0, the code before them) and on (the default), alternated.
# Usage (repository root): bash tools/ipc/spawn_stall_ab.sh ROUNDS [CPUS] [PYTHON]
#   CPUS: taskset list for the server and the bench (default 0,1); PYTHON: default python3.
# One line per run: per spawn the player's max / p99 / median ms, its exchanges, the spawn's
# round trip and server seconds; the load average before the run.
set -uo pipefail
rounds=${1:-3}; cpus=${2:-0,1}; py=${3:-python3}
root=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH="$root/tools/ipc/handoff_site:$root/sdk:$root${PYTHONPATH:+:$PYTHONPATH}"
for r in $(seq "$rounds"); do
  for mode in off on; do
    if [ "$mode" = off ]; then export SF_BREATHE=0,0; else unset SF_BREATHE; fi
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    timeout 300 taskset -c "$cpus" "$py" -m spikeforge.cli bench relayout --backend native --brains 1000 \
      --spawn-count 3000 --repeat 3 --json 2>&1 | "$py" -c "
import json, sys
rs = [json.loads(l) for l in sys.stdin if l.startswith('{\"kind\"')]
f = lambda k, n=1: [round(d[k], n) for d in rs]
print(json.dumps({'pauses': '$mode', 'load': '$load', 'max_ms': f('max_ms'), 'p99_ms': f('p99_ms'),
                  'median_ms': f('median_ms', 2), 'exchanges': [d['exchanges'] for d in rs],
                  'spawn_s': f('spawn_s', 3), 'server_s': f('server_s', 3), 'pieces': [d['pieces'] for d in rs]}))"
  done
done
