"""The flat layout: brain blocks out and back in, index invariants, validation."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import drive, rich_circuit

from spikeforge import LIF, Circuit, World
from spikeforge.engine.layout import BrainBlock, assemble, validate_layout
from spikeforge.engine.slots import build_layout, strip_pad
from spikeforge.runtime.snapshot import layout_arrays


def _busy_world() -> World:
    world = World(dt=0.001, backend="numpy", seed=8)
    world.spawn(rich_circuit(), count=2)
    world.spawn(Circuit("echo").add_population("p", 7, LIF(bias=16.0)).connect("p", "p", weight=0.5, delay=(3, 9)))
    world.spawn(rich_circuit())
    for f in range(6):
        for b in world.brains:
            if b.prototype == "rich":
                drive(b, f)
        world.advance(1 / 60)
    return world


def test_extract_then_assemble_is_identity() -> None:
    world = _busy_world()
    L = world.layout
    blocks = [strip_pad(L.extract(i), world._pad) for i in range(L.n_brains) if L.brain_serial[i] >= 0]
    assert not any(b.syn_proj.size and b.syn_proj.max() == world._pad for b in blocks)
    flat = assemble(L.dt_ms, L.depth, L.prototypes, sorted(blocks, key=lambda b: b.proto), L.proj_chan)
    validate_layout(flat)  # a slot-free layout of the same brains is valid too
    per: dict[int, list[BrainBlock | None]] = {}
    for i in range(L.n_brains):
        per.setdefault(int(L.brain_proto[i]), []).append(
            strip_pad(L.extract(i), world._pad) if L.brain_serial[i] >= 0 else None)
    again = build_layout(L.dt_ms, L.depth, L.prototypes, world._shapes, per, world._pad, L.proj_chan,
                         {k: a.dtype for k, a in L.synapse.items()})
    validate_layout(again)
    a, b = layout_arrays(L), layout_arrays(again)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k


def test_layout_invariants() -> None:
    world = _busy_world()
    L = world.layout
    validate_layout(L)
    # brains of a prototype are contiguous, in spawn order
    assert L.brain_proto.tolist() == sorted(L.brain_proto.tolist())
    assert L.brain_serial.tolist() == [0, 1, 3, -1, 2]  # "rich" grew to 4 slots, one free
    # every synapse stays inside its source's brain
    pre = L.syn_pre()
    bo = L.brain_of_neuron()
    assert np.array_equal(bo[pre], bo[L.synapse["post"]])
    # rows group synapses of one source, projection and delay
    assert np.all(L.row_delay >= 1) and np.all(L.row_delay <= L.depth)
    assert np.all(np.diff(L.row_ptr) >= 0)
    # organ buffers are (brains x channels) blocks per prototype
    g = world.group("rich")
    assert g.sensor("eye").shape == (4, 4) and g.live.tolist() == [True, True, True, False]
    assert g.actuator("move").shape == (4, 3) and g.actuator("dir").shape == (4, 1)
    assert L.nbytes()["synapses"] == L.n_synapses * 8


@pytest.mark.parametrize(("array", "corrupt", "message"), [
    ("brain_start", lambda a: a.__setitem__(1, a[2] + 1), "brain_start"),
    ("row_ptr", lambda a: a.__setitem__(-1, a[-1] + 1), "row_ptr"),
    ("row_delay", lambda a: a.__setitem__(0, 0), "row_delay"),
    ("row_chan", lambda a: a.__setitem__(0, 3), "row_chan"),
    ("pid", lambda a: a.__setitem__(0, 999), "pid"),
    ("lod_every", lambda a: a.__setitem__(0, 0), "lod_every"),
    ("gap_a", lambda a: a.__setitem__(0, 10**6), "gap"),
])
def test_validate_layout_names_the_broken_array(array: str, corrupt, message: str) -> None:  # type: ignore[no-untyped-def]
    L = _busy_world().layout
    corrupt(getattr(L, array))
    with pytest.raises(ValueError, match=f"layout.{message}"):
        validate_layout(L)


def test_synapse_post_out_of_range_is_caught() -> None:
    L = _busy_world().layout
    L.synapse["post"][0] = L.n_neurons
    with pytest.raises(ValueError, match=r"layout\.synapse\.post"):
        validate_layout(L)


@pytest.mark.parametrize("key", ["neuron.hold", "synapse.w"])
def test_missing_state_arrays_are_caught(key: str) -> None:
    L = _busy_world().layout
    group, name = key.split(".")
    del getattr(L, group)[name]
    with pytest.raises(ValueError, match=rf"layout\.{group}\.{name}: missing"):
        validate_layout(L)


@pytest.mark.parametrize(("key", "dtype"), [("neuron.v", np.float64), ("row_ptr", np.int32), ("ring", np.float32),
                                            ("synapse.post", np.int64)])
def test_wrong_dtypes_are_caught(key: str, dtype: type[np.generic]) -> None:
    L = _busy_world().layout
    if "." in key:
        group, name = key.split(".")
        getattr(L, group)[name] = getattr(L, group)[name].astype(dtype)
    else:
        setattr(L, key, getattr(L, key).astype(dtype))
    with pytest.raises(ValueError, match="expected dtype"):
        validate_layout(L)
