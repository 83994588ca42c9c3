"""The C loader, kernels and host under AddressSanitizer + UndefinedBehaviorSanitizer."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.native.helpers import build, exported

pytestmark = [pytest.mark.native, pytest.mark.slow]

SAN_ENV = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


def test_host_and_loader_fuzz_clean_under_asan_ubsan(tmp_path: Path) -> None:
    bdir = build("host", "fuzz", san=True)
    path, _ = exported(tmp_path)
    r = subprocess.run([str(bdir / "host"), str(path), "6", "16", "0.6"], capture_output=True, text=True,
                       timeout=120, env=SAN_ENV)
    assert r.returncode == 0 and r.stdout.rstrip().endswith("ok"), r.stdout + r.stderr
    r = subprocess.run([str(bdir / "fuzz_loader"), str(path), "1000", "7"], capture_output=True, text=True,
                       timeout=300, env=SAN_ENV)
    assert r.returncode == 0, r.stdout + r.stderr[-4000:]
    assert "ERROR: AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr
    ok, rejected = (int(x.split("=")[1]) for x in r.stdout.split()[1:3])
    assert rejected > 500 and ok > 0  # most mutations are caught; the rest run cleanly
