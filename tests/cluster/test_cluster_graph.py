"""The frame path on a Ray Compiled Graph: bit-exact with a single-process World and with the
ordinary-call path, used only when every shard shares the coordinator's node (else a clear
fallback), and faults on it (a shard killed mid-run or between frames, a hung shard) recover
from the checkpoint exactly as on the ordinary path, without hanging the frame loop."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np
import pytest
import ray
from tests.cluster.test_cluster_faults import (
    assert_rows_equal,
    frame,
    hang_shard_zero_for_a_frame,
    spawn_all,
    wait_until_replaced,
)

from spikeforge import World
from spikeforge.cluster import ClusterError, ClusterWorld

pytestmark = pytest.mark.native
ON_HEAD = {"head": 1.0}  # both shards on the driver's node (2 CPUs there)
# "compiled": "auto" would not use a graph for 2 shards + the coordinator on a host of fewer than 3 cores


def test_graph_path_is_bit_exact_and_used(ray_cluster: Any) -> None:
    ref = World(dt=0.001, backend="native", seed=21, compact=True)
    cw = ClusterWorld(shards=2, seed=21, resources=ON_HEAD, checkpoint_every=50, frame_path="compiled")
    try:
        assert cw.frame_path_active == "compiled", cw.graph_reason
        for w in (ref, cw):
            spawn_all(w)
        rng = np.random.default_rng(4)
        for f in range(8):  # frames with checkpoints (tuple replies) and rewards
            frame([ref, cw], rng, f)
            assert_rows_equal(ref, cw, np.array([b.id for b in ref.brains]))
        assert cw.frame_path_active == "compiled"
        s0 = ref.step(5)
        s1 = cw.step(5)
        np.testing.assert_array_equal(s0.steps, s1.steps)
        np.testing.assert_array_equal(s0.neurons, s1.neurons)
        # spawning and despawning go through ordinary calls beside the graph
        gone = [b.id for b in ref.brains][::3]
        for w in (ref, cw):
            w.despawn(gone)
            w.spawn(spawn_circuit(), 2)
        for f in range(8, 11):
            frame([ref, cw], rng, f)
            assert_rows_equal(ref, cw, np.array([b.id for b in ref.brains]))
        assert cw.frame_path_active == "compiled" and cw.stats()["frame_path"] == "compiled"
    finally:
        cw.close()
    assert cw._graph is None and not cw._old_graphs
    plain = ClusterWorld(shards=2, seed=21, resources=ON_HEAD, frame_path="remote")  # the switch
    try:
        assert plain.frame_path_active == "remote" and plain.graph_reason == ""
    finally:
        plain.close()
    auto = ClusterWorld(shards=2, seed=21, resources=ON_HEAD)
    try:  # "auto": a graph only with a core per shard loop plus the coordinator's
        if (os.cpu_count() or 1) < 3:
            assert auto.frame_path_active == "remote" and "busy-wait" in auto.graph_reason
        else:
            assert auto.frame_path_active == "compiled", auto.graph_reason
    finally:
        auto.close()


def spawn_circuit() -> Any:
    from tests.cluster.cluster_nets import npc_circuit

    return npc_circuit()


def test_shards_on_other_nodes_fall_back_with_a_reason(ray_cluster: Any) -> None:
    cw = ClusterWorld(shards=3, seed=1)  # SPREAD over the three nodes
    try:
        assert cw.frame_path_active == "remote"
        assert "other nodes" in cw.graph_reason
    finally:
        cw.close()
    with pytest.raises(ClusterError, match=r"frame_path='compiled'.*other nodes"):
        ClusterWorld(shards=3, seed=1, frame_path="compiled")
    with pytest.raises(ValueError, match="frame_path"):
        ClusterWorld(shards=1, frame_path="fast")


@pytest.mark.parametrize("kill", ["SIGKILL", "between frames"])
def test_killed_shard_on_the_graph_restarts_from_checkpoint(ray_cluster: Any, kill: str) -> None:
    ref = World(dt=0.001, backend="native", seed=13, compact=True)
    cw = ClusterWorld(shards=2, seed=13, resources=ON_HEAD, checkpoint_every=16, max_restarts=3,
                      restart_timeout=60.0, frame_path="compiled")
    try:
        assert cw.frame_path_active == "compiled", cw.graph_reason
        spawn_all(ref)
        spawn_all(cw)
        rng = np.random.default_rng(8)
        for f in range(3):  # each frame checkpointed: the checkpoint is the state before the next
            frame([cw, ref], rng, f)
        assert cw.checkpoint_steps[1] == cw.step_count
        pid = int(ray.get(cw.actor(1).ping.remote())["pid"])
        os.kill(pid, signal.SIGKILL)
        if kill == "between frames":
            deadline = time.monotonic() + 60.0
            info = wait_until_replaced(cw.actor(1), pid)
            while info is None or not info["restarted"]:
                assert time.monotonic() < deadline, "Ray did not restart the shard actor"
                time.sleep(0.1)
                info = wait_until_replaced(cw.actor(1), pid)
        t0 = time.monotonic()
        res = frame([cw, ref], rng, 3)[0]
        assert time.monotonic() - t0 < 60.0
        (rb,) = res.rolled_back
        assert rb.shard == 1 and not np.any(rb.steps)
        if kill == "between frames":
            assert "between frames" in rb.reason
        assert_rows_equal(ref, cw, np.array([b.id for b in cw.brains]))
        # the other shard ran the frame once (its reply was fetched after the graph broke), and
        # the graph is rebuilt once the old one is torn down
        deadline = time.monotonic() + 60.0
        f = 4
        while cw.frame_path_active != "compiled" or f < 8:
            assert time.monotonic() < deadline, f"no compiled graph again: {cw.graph_reason}"
            frame([cw, ref], rng, f)
            f += 1
            assert_rows_equal(ref, cw, np.array([b.id for b in cw.brains]))
        assert len(cw.rollbacks) == 1 and not cw.lost_shards
    finally:
        cw.close()


def test_hung_shard_on_the_graph_times_out_and_is_replaced(ray_cluster: Any) -> None:
    ref = World(dt=0.001, backend="native", seed=3, compact=True)
    cw = ClusterWorld(shards=2, seed=3, resources=ON_HEAD, checkpoint_every=20, frame_timeout=3.0,
                      restart_timeout=60.0, frame_path="compiled")
    try:
        assert cw.frame_path_active == "compiled", cw.graph_reason
        spawn_all(ref)
        spawn_all(cw)
        rng = np.random.default_rng(1)
        others = hang_shard_zero_for_a_frame(cw, ref, rng)
        for f in range(5, 8):  # the frame loop goes on (ordinary calls until the graph is rebuilt)
            frame([cw, ref], rng, f)
            assert_rows_equal(ref, cw, others)
    finally:
        cw.close()
