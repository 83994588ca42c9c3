"""The frame's bytes (cluster/wire.py) round-trip, and a shard's ``frame`` answers what ``run`` does
(in-process, no Ray)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.cluster.cluster_nets import npc_circuit

from spikeforge.cluster.shard import Shard
from spikeforge.cluster.wire import (
    SPIKES_DELTA16,
    SPIKES_INT32,
    pack_reply,
    pack_request,
    request_size,
    unpack_reply,
    unpack_request,
)


def test_request_round_trip() -> None:
    buf = bytearray(request_size(5, 2))
    sens, flags = pack_request(buf, "step", 7.0, (0.25, 9), True, 5, 2)
    sens[...] = np.arange(5, dtype=np.float32)
    flags[...] = [[0, 1], [1, 3], [1, 0]]
    req = unpack_request(bytes(buf))
    assert (req.mode, req.arg, req.clock, req.checkpoint) == ("step", 7.0, (0.25, 9), True)
    np.testing.assert_array_equal(req.sensors, np.arange(5, dtype=np.float32))
    np.testing.assert_array_equal(req.flags, [[0, 1], [1, 3], [1, 0]])
    with pytest.raises(ValueError, match="header says"):
        unpack_request(bytes(buf) + b"x")


@pytest.mark.parametrize(("stride", "encoding"), [(1000, SPIKES_DELTA16), (2_000_000, SPIKES_INT32)])
def test_reply_round_trip_both_spike_encodings(stride: int, encoding: int) -> None:
    rng = np.random.default_rng(3)
    steps = 16
    st = np.sort(rng.integers(0, steps, 500))
    nr = np.concatenate([np.sort(rng.choice(stride, int((st == s).sum()), replace=False)) for s in range(steps)])
    act, bst = rng.random(24, dtype=np.float32), np.arange(3, dtype=np.int64) * 16
    data = pack_reply(steps, 0.5, act, bst, st, nr.astype(np.int32), stride)
    rep = unpack_reply(data)
    assert len(data) > 0 and rep.encoding == encoding and rep.n_spikes == 500
    assert (rep.steps, rep.sim_s) == (steps, 0.5)
    np.testing.assert_array_equal(rep.act_out, act)
    np.testing.assert_array_equal(rep.brain_step, bst)
    got_st, got_nr = rep.spike_keys()
    np.testing.assert_array_equal(got_st, st)
    np.testing.assert_array_equal(got_nr, nr)
    empty = unpack_reply(pack_reply(steps, 0.0, act, bst, np.zeros(0, np.int64), np.zeros(0, np.int32), stride))
    assert empty.n_spikes == 0 and empty.spike_keys()[0].size == 0


@pytest.mark.native
def test_shard_frame_equals_run() -> None:
    a, b = (Shard(0, 0.001, 5, 64, "native", 1) for _ in range(2))
    try:
        for s in (a, b):
            s.spawn(npc_circuit(), 0, 6)
        rng = np.random.default_rng(1)
        clock = (0.0, 0)
        for f in range(4):
            size = a.world.layout.sensor_values.size
            vals = rng.random(size, dtype=np.float32)
            flags = np.array([[0, 1, 0, 0, 0, 0], [1, 1, 2, 1, 1, 1], [1, 1, 1, 0, 1, 1]], np.int32)
            ref = a.run("advance", 1 / 60, clock, vals, flags, False)
            buf = bytearray(request_size(size, 6))
            sens, fl = pack_request(buf, "advance", 1 / 60, clock, f == 3, size, 6)
            sens[...], fl[...] = vals, flags
            out = b.frame(bytes(buf))
            if f == 3:
                assert isinstance(out, tuple) and len(out[1]) > 0
                out = out[0]
            assert isinstance(out, bytes)
            rep = unpack_reply(out)
            assert rep.steps == ref["steps"]
            np.testing.assert_array_equal(rep.act_out, ref["act_out"])
            np.testing.assert_array_equal(rep.brain_step, ref["brain_step"])
            st, nr = rep.spike_keys()
            np.testing.assert_array_equal(nr, ref["spike_neurons"])
            np.testing.assert_array_equal(np.bincount(st, minlength=rep.steps), ref["spike_counts"])
            clock = (a.world.clock.accumulator, a.world.clock.frames)
    finally:
        a.close()
        b.close()
