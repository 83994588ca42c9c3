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


def test_absent_state_clean_under_asan_ubsan(tmp_path: Path) -> None:
    """A world that stores none of w theta mod consec burst, whose gap junctions, homeostasis and
    background input send the C loops through the zeroed stand-ins (kernel.c, SF_ABSENT_CHUNK), and
    one that stores each of them for some populations only (the per-population arrays: each
    segment's offset into them, the modulated Hebbian rule's lookup of its post neuron's mod)."""
    from tests.engine.native_nets import static_net
    from tests.engine.test_kept_state import gap_net, homeo_net, lif_net, mixed_net, noisy_plain_net

    from spikeforge import World
    from spikeforge.runtime.export import export_world

    bdir = build("host", san=True)
    w = World(dt=0.001, backend="numpy", seed=5)
    for make in (gap_net, homeo_net, noisy_plain_net):
        w.spawn(make(), count=2)
    assert not {"w", "mod", "consec", "burst"} & set(w.layout.neuron)
    mixed = World(dt=0.001, backend="numpy", seed=5)
    for make in (lif_net, mixed_net, static_net, mixed_net):
        mixed.spawn(make(), count=2)
    L = mixed.layout
    assert all(0 < L.neuron[k].size < L.n_neurons for k in ("w", "theta", "mod", "consec", "burst"))
    for name, world in (("absent", w), ("per_population", mixed)):
        path = export_world(world, tmp_path / f"{name}.sfb")
        r = subprocess.run([str(bdir / "host"), str(path), "6", "16", "0.6"], capture_output=True, text=True,
                           timeout=120, env=SAN_ENV)
        assert r.returncode == 0 and r.stdout.rstrip().endswith("ok"), name + r.stdout + r.stderr
        assert "runtime error" not in r.stderr, name


def test_threads_clean_under_tsan(tmp_path: Path) -> None:
    """Two threads inside one brain (barriers, atomic ring adds, learning phases) and across
    brains, under ThreadSanitizer (ASLR off for this process: TSan's shadow layout)."""
    import shutil

    from tests.engine.native_nets import feature_net, learning_net

    from spikeforge import World
    from spikeforge.runtime.export import export_world

    setarch = shutil.which("setarch")
    if setarch is None:
        pytest.skip("setarch (util-linux) is needed to run TSan with ASLR off")
    bdir = build("fuzz", tsan=True)
    files = []
    for name, circ in (("learn", learning_net()), ("feat", feature_net())):
        w = World(dt=0.001, backend="numpy", seed=3)
        w.spawn(circ, count=1)
        files.append(export_world(w, tmp_path / f"{name}.sfb"))
    files.append(exported(tmp_path)[0])  # several brains: brain-major threads
    for f in files:
        r = subprocess.run([setarch, os.uname().machine, "-R", str(bdir / "fuzz_loader"), str(f), "120", "3"],
                           capture_output=True, text=True, timeout=300,
                           env={**os.environ, "TSAN_OPTIONS": "halt_on_error=1"})
        assert r.returncode == 0 and "WARNING: ThreadSanitizer" not in r.stderr, r.stdout + r.stderr[-4000:]
