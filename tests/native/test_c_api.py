"""The C API: a C host runs exported brains bit-exactly; the loader rejects bad files."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.native.helpers import build, exported, make_world, run_python

import spikeforge.engine.native_backend as native  # built at install: a missing one must fail
from spikeforge.engine.gen_tables import tables_fingerprint
from spikeforge.runtime.export import MAGIC, layout_records, main, write_records

pytestmark = pytest.mark.native
if native.unavailable() is not None:  # pragma: no cover
    pytest.fail(f"the native backend is not built: {native.unavailable()}", pytrace=False)
from spikeforge.engine._native_ext import ffi, lib  # noqa: E402


def load(data: bytes) -> tuple[int, str]:
    out = ffi.new("sf_world **")
    rc = lib.sf_world_load_memory(data, len(data), out)
    if rc == 0:
        world = out[0]
        n = ffi.new("int64_t *")
        s = lib.sf_world_sensors(world, n)
        for i in range(n[0]):
            s[i] = 0.4
        assert lib.sf_world_run(world, 3) == 0, ffi.string(lib.sf_last_error())
        lib.sf_world_destroy(world)
    return rc, ffi.string(lib.sf_last_error()).decode()


def test_version() -> None:
    assert lib.sf_version() >> 16 == lib.SF_API_VERSION_MAJOR == 1
    assert ffi.string(lib.sf_version_string()) == b"1.0.0"


def test_c_host_matches_sdk_bit_for_bit(tmp_path: Path) -> None:
    bdir = build("host")
    path, w = exported(tmp_path)
    state = tmp_path / "state.bin"
    r = subprocess.run([str(bdir / "host"), str(path), "8", "16", "0.7", str(state)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.strip().splitlines() if " " in line)
    spikes = run_python(w, 8, 16, 0.7)
    assert f"steps 128 spikes {spikes} callbacks 8" in r.stdout and spikes > 100
    raw = np.fromfile(state, np.float32)
    n = w.layout.n_neurons
    assert np.array_equal(raw[:n].view(np.uint32), w.layout.neuron["v"].view(np.uint32))
    assert np.array_equal(raw[n:].view(np.uint32), w.layout.synapse["w"].view(np.uint32))  # learned weights
    acts = np.array(lines["actuators"].split(), dtype=np.float32)
    assert np.array_equal(acts, w.layout.act_out)
    assert r.stdout.rstrip().endswith("ok")


def test_export_cli(tmp_path: Path) -> None:
    from tests.engine.native_nets import feature_net

    from spikeforge.model.genome import save_genome

    save_genome(feature_net(), tmp_path / "g.json")
    assert main([str(tmp_path / "g.json"), "--count", "3", "--seed", "2", "-o", str(tmp_path / "b.sfb")]) == 0
    data = (tmp_path / "b.sfb").read_bytes()
    assert data[:8] == MAGIC
    rc, msg = load(data)
    assert rc == 0, msg


def _file(records: dict[str, np.ndarray], tmp: Path) -> bytes:
    with open(tmp / "f.sfb", "wb") as f:
        write_records(f, records)
    return (tmp / "f.sfb").read_bytes()


def test_loader_errors_name_the_problem(tmp_path: Path) -> None:
    w = make_world()
    good = layout_records(w.layout)
    data = _file(good, tmp_path)
    assert load(data)[0] == 0
    assert load(b"NOTBRAIN" + data[8:]) == (lib.SF_ERR_FORMAT, "brain file: bad magic (not a spikeforge brain file)")
    assert load(data[:8] + struct.pack("<I", 99) + data[12:])[1].startswith("brain file: format version 99")
    rc, msg = load(data[: len(data) - 5])
    assert rc == lib.SF_ERR_FORMAT and "truncated" in msg
    for name, mutate, expect in [
        ("post", lambda a: np.where(np.arange(a.size) == 3, 10**6, a), "synapse.post[3]"),
        ("row_delay", lambda a: a * 0, "row_delay[0]"),
        ("pid", lambda a: a + 1000, "pid[0]"),
        ("brain_start", lambda a: a[::-1].copy(), "brain_start"),
        ("v", lambda a: a[:-1], "record 'pid' has"),
        ("sensor_groups_i", lambda a: np.where(np.arange(a.size) == 4, 10**6, a), "sensor_groups[0].pop_offset"),
        ("in_syn", lambda a: a + 10**9, "plast.in_syn"),
    ]:
        bad = dict(good)
        bad[name] = mutate(np.asarray(good[name]))
        rc, msg = load(_file(bad, tmp_path))
        assert rc in (lib.SF_ERR_FORMAT, lib.SF_ERR_INVALID) and expect in msg, (name, msg)
    missing = {k: v for k, v in good.items() if k != "gauss_lut"}
    assert "missing record 'gauss_lut'" in load(_file(missing, tmp_path))[1]
    # a file laid out by other engine tables (another spikeforge version) is refused by name
    assert int(good["tables_fingerprint"][0]) == tables_fingerprint() == lib.SF_TABLES_FINGERPRINT
    other = dict(good, tables_fingerprint=good["tables_fingerprint"] ^ np.uint32(1))
    rc, msg = load(_file(other, tmp_path))
    assert rc == lib.SF_ERR_FORMAT and "exported for engine tables" in msg and "re-export" in msg, msg
    old = {k: v for k, v in good.items() if k != "tables_fingerprint"}
    rc, msg = load(_file(old, tmp_path))
    assert rc == lib.SF_ERR_FORMAT and "older spikeforge" in msg, msg
    out = ffi.new("sf_world **")
    assert lib.sf_world_load(b"/nonexistent/x.sfb", out) == lib.SF_ERR_IO


_BASE: dict[str, bytes] = {}


def _base() -> bytes:
    if "d" not in _BASE:
        import io

        buf = io.BytesIO()
        write_records(buf, layout_records(make_world(count=1).layout))
        _BASE["d"] = buf.getvalue()
    return _BASE["d"]


@settings(max_examples=150)
@given(st.data())
def test_fuzz_loader_never_crashes(data: st.DataObject) -> None:
    raw = bytearray(_base())
    cut = data.draw(st.integers(0, len(raw)))
    for _ in range(data.draw(st.integers(0, 6))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    rc, msg = load(bytes(raw[: cut if data.draw(st.booleans()) else len(raw)]))
    assert rc == 0 or msg  # either it runs, or it says why
