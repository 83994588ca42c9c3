"""Run a command and prefix each line of its output with the seconds since start, then print
its exit code (how docs/performance.md times a cold `make demo`, issue 18).

    d=$(mktemp -d) && git clone -q . "$d/p" && cd "$d/p" && python3 tools/stamp_lines.py make demo
"""
from __future__ import annotations

import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    t0 = time.monotonic()
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        print(f"{time.monotonic() - t0:7.1f} {line}", end="", flush=True)
    code = proc.wait()
    print(f"{time.monotonic() - t0:7.1f} exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
