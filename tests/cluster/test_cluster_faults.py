"""Faults on a real multi-node Ray cluster: shard actors killed (by Ray and by signal), hung,
and lost for good. Killed shards come back from their checkpoint and report the rollback;
nobody else's brains change; the frame loop never hangs."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import ray
from tests.cluster.cluster_nets import learner_circuit, npc_circuit
from tests.procfs import stat_fields

from spikeforge import World
from spikeforge.cluster import ClusterError, ClusterWorld

pytestmark = pytest.mark.native
ORGANS = (("npc", "eyes"), ("forager", "eye"), ("forager", "explore"))
OUTS = (("npc", "legs"), ("forager", "motor"))


def spawn_all(w: Any) -> None:
    w.spawn(npc_circuit(), 6)
    w.spawn(learner_circuit(), 6)


def frame(worlds: list[Any], rng: np.random.Generator, f: int) -> list[Any]:
    """One frame with the same sensors (and every third frame the same rewards) everywhere."""
    for name, organ in ORGANS:
        vals = rng.random(worlds[0].group(name).sensor(organ).shape, dtype=np.float32)
        for w in worlds:
            w.group(name).sensor(organ)[...] = vals
    if f % 3 == 2:
        r = rng.normal(size=worlds[0].layout.n_brains)
        for w in worlds:
            w.reward(r)
    return [w.advance(1 / 60) for w in worlds]


def rows_of(w: Any, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Actuator rows and step counters of the brains ``ids`` (by id, prototype by prototype)."""
    out = {}
    for name, organ in OUTS:
        g = w.group(name)
        serial = np.array([b.id for b in g.brains])
        sel = np.isin(serial, ids)
        out[name] = np.asarray(g.actuator(organ))[sel]
    idx = np.array([w.brain(int(i)).index for i in ids])
    out["steps"] = np.asarray(w.layout.brain_step)[idx]
    return out


def assert_rows_equal(a: Any, b: Any, ids: np.ndarray) -> None:
    ra, rb = rows_of(a, ids), rows_of(b, ids)
    for k in ra:
        np.testing.assert_array_equal(ra[k], rb[k], err_msg=k)


def wait_until_replaced(actor: Any, pid: int, timeout: float = 60.0) -> dict[str, Any] | None:
    """Wait until ``actor`` no longer answers from process ``pid``: its ping fails (dead) or comes
    from the restarted process (whose ping answer is returned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            info = ray.get(actor.ping.remote(), timeout=2.0)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            return None
        if int(info["pid"]) != pid:
            return dict(info)
        time.sleep(0.05)
    raise AssertionError(f"actor process {pid} still answers after {timeout} s")


def test_killed_shard_restarts_from_checkpoint(ray_cluster: Any, tmp_path: Path) -> None:
    ref = World(dt=0.001, backend="native", seed=11, compact=True)  # row for row like the cluster mirror
    cw = ClusterWorld(shards=3, seed=11, checkpoint_every=40, max_restarts=3, restart_timeout=60.0)
    try:
        spawn_all(ref)
        spawn_all(cw)
        rng = np.random.default_rng(5)
        worlds: list[Any] = [cw, ref]
        track = {b.id: ref for b in ref.brains}  # which reference world each brain must equal
        ckpts: dict[int, Path] = {}
        f = 0

        def check() -> None:
            for w in {id(w): w for w in track.values()}.values():
                assert_rows_equal(w, cw, np.array(sorted(i for i, t in track.items() if t is w)))

        for kill, victim in (("ray.kill", 1), ("SIGKILL", 2)):
            for _ in range(7):
                frame(worlds, rng, f)
                f += 1
                check()
                step = max(cw.checkpoint_steps)
                if step == cw.step_count and step not in ckpts:  # the reference at the checkpoint's step
                    ckpts[step] = tmp_path / f"ref-{step}.snapshot"
                    ref.save(ckpts[step])
            ids = np.array([b.id for b in cw.brains if cw.shard_of(b.id) == victim])
            assert ids.size and all(track[int(i)] is ref for i in ids)
            ck = cw.checkpoint_steps[victim]
            assert ck in ckpts and ck < cw.step_count
            at_ckpt = World.load(ckpts[ck], backend="native")
            # a rollback restores brains, not the world clock: frames keep their step counts
            at_ckpt.clock.accumulator, at_ckpt.clock.frames = ref.clock.accumulator, ref.clock.frames
            if kill == "ray.kill":
                pid = int(ray.get(cw.actor(victim).ping.remote())["pid"])
                ray.kill(cw.actor(victim), no_restart=False)
                # ray.kill is asynchronous: let it land first, or the frame may run on the old actor
                wait_until_replaced(cw.actor(victim), pid)
            else:
                os.kill(int(ray.get(cw.actor(victim).ping.remote())["pid"]), signal.SIGKILL)
            before = cw.step_count
            t0 = time.monotonic()
            worlds.append(at_ckpt)
            res = frame(worlds, rng, f)
            f += 1
            wall = time.monotonic() - t0
            (rb,) = res[0].rolled_back
            assert rb.shard == victim and sorted(rb.brains.tolist()) == sorted(ids.tolist())
            np.testing.assert_array_equal(rb.steps, np.full(ids.size, before - ck))
            assert rb.seconds < 30.0 and wall < 60.0, (rb.seconds, wall)
            print(f"{kill}: shard {victim} back in {rb.seconds:.2f} s (frame {wall:.2f} s), "
                  f"{ids.size} brains rolled back {before - ck} steps")
            # the rolled-back brains are exactly the reference brains restarted at the checkpoint;
            # every other brain still equals its uninterrupted reference
            for i in ids:
                track[int(i)] = at_ckpt
            check()
            for _ in range(4):
                frame(worlds, rng, f)
                f += 1
                check()
        for i, w in track.items():  # weights and state, not just outputs
            b, c = w.brain(i), cw.brain(i)
            if b.prototype == "forager":
                np.testing.assert_array_equal(b.weights("eye->motor").w, c.weights("eye->motor")["w"])
            else:
                np.testing.assert_array_equal(b["hid"].v, c.state("hid", "v"))
        assert len(cw.rollbacks) == 2 and not cw.lost_shards
    finally:
        cw.close()


def test_shard_dead_between_frames_is_restored_not_run_empty(ray_cluster: Any) -> None:
    """A shard killed between frames is restarted by Ray before the next frame reaches it: the
    restarted actor refuses to run empty, and the coordinator restores it like a mid-frame death."""
    ref = World(dt=0.001, backend="native", seed=7, compact=True)  # row for row like the cluster mirror
    cw = ClusterWorld(shards=2, seed=7, checkpoint_every=16, max_restarts=2, restart_timeout=60.0)
    try:
        spawn_all(ref)
        spawn_all(cw)
        rng = np.random.default_rng(3)
        for f in range(3):  # frames of 16-17 steps, each checkpointed: the checkpoint is the current state
            frame([cw, ref], rng, f)
        assert cw.checkpoint_steps[1] == cw.step_count
        pid = int(ray.get(cw.actor(1).ping.remote())["pid"])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60.0
        info = wait_until_replaced(cw.actor(1), pid)
        while info is None or not info["restarted"]:  # until Ray has brought the actor back
            assert time.monotonic() < deadline, "Ray did not restart the shard actor"
            time.sleep(0.1)
            info = wait_until_replaced(cw.actor(1), pid)
        assert info["needs_restore"] and info["brains"] == 0
        with pytest.raises(ClusterError, match="restarted by Ray"):  # control calls say so, clearly
            cw.learning(True)
        res = frame([cw, ref], rng, 3)[0]
        (rb,) = res.rolled_back
        assert rb.shard == 1 and "between frames" in rb.reason
        assert not np.any(rb.steps)  # the checkpoint was the state before the frame: nothing lost
        assert_rows_equal(ref, cw, np.array([b.id for b in cw.brains]))
        frame([cw, ref], rng, 4)
        assert_rows_equal(ref, cw, np.array([b.id for b in cw.brains]))
    finally:
        cw.close()


def thread_states(pid: int) -> dict[str, int]:
    """How many of process ``pid``'s threads are in each scheduler state (``/proc/PID/task/*/stat``:
    R running, S sleeping, D uninterruptible, T stopped, ...)."""
    counts: dict[str, int] = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            state = stat_fields(stat)[0]
        except (OSError, IndexError):  # the thread ended while we looked
            continue
        counts[state] = counts.get(state, 0) + 1
    return counts


def wait_until_stopped(pid: int, timeout: float) -> dict[str, int]:
    """Wait until every thread of ``pid`` is stopped (state ``T``; a thread already exiting, ``Z`` or
    ``X``, does not count); return the states seen last."""
    deadline = time.monotonic() + timeout
    while True:
        states = thread_states(pid)
        if set(states) & {"T", "t"} and set(states) <= {"T", "t", "Z", "X"}:
            return states
        assert time.monotonic() < deadline, f"pid {pid} not stopped {timeout:g} s after SIGSTOP: {states}"
        time.sleep(0.005)


def hang_shard_zero_for_a_frame(cw: ClusterWorld, ref: World, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Four frames, then SIGSTOP shard 0 through frame 4: that frame must time out after
    ``frame_timeout`` (3 s in these tests), report shard 0 rolled back as silent, and leave
    shard 1's brains equal to the single-process ``ref``. Returns shard 1's brain ids."""
    for f in range(4):
        frame([cw, ref], rng, f)
    pid = int(ray.get(cw.actor(0).ping.remote())["pid"])
    os.kill(pid, signal.SIGSTOP)  # alive but silent
    try:
        # kill() returns before every thread has stopped: the frame starts once they all have
        before = wait_until_stopped(pid, 10.0)
        t0 = time.monotonic()
        res = frame([cw, ref], rng, 4)[0]
        wall = time.monotonic() - t0
        after = thread_states(pid)
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    # (twice in CI runs, this frame came back with nothing rolled back in ~0.02 s: say what it did
    # return, and what state shard 0's threads were in before and after it, so that a next time tells why)
    assert len(res.rolled_back) == 1, (f"frame 4 with shard 0 (pid {pid}) stopped: rolled_back={res.rolled_back!r}, "
                                       f"wall {wall:.2f} s, frame path now {cw.frame_path_active}, "
                                       f"its threads' states before the frame {before}, after {after}")
    (rb,) = res.rolled_back
    assert rb.shard == 0 and "no answer" in rb.reason
    assert 3.0 <= wall < 60.0
    others = np.array([b.id for b in cw.brains if cw.shard_of(b.id) == 1], dtype=np.int64)
    assert_rows_equal(ref, cw, others)
    return others


def test_hung_shard_times_out_and_is_replaced(ray_cluster: Any) -> None:
    ref = World(dt=0.001, backend="native", seed=3, compact=True)  # row for row like the cluster mirror
    cw = ClusterWorld(shards=2, seed=3, checkpoint_every=20, frame_timeout=3.0, restart_timeout=60.0)
    try:
        spawn_all(ref)
        spawn_all(cw)
        hang_shard_zero_for_a_frame(cw, ref, np.random.default_rng(1))
    finally:
        cw.close()


def wait_until_dead(actor: Any, timeout: float = 30.0) -> None:
    """Return once ``actor`` no longer answers (its built-in readiness call raises), else fail."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=5.0)
        except (ray.exceptions.RayActorError, ray.exceptions.ActorDiedError):
            return
        except ray.exceptions.GetTimeoutError:
            continue
        time.sleep(0.05)
    raise AssertionError(f"the killed actor still answers after {timeout} s")


def test_lost_shard_leaves_the_others_running(ray_cluster: Any) -> None:
    ref = World(dt=0.001, backend="native", seed=5, compact=True)  # row for row like the cluster mirror
    cw = ClusterWorld(shards=3, seed=5, checkpoint_every=0, max_restarts=0, restart_timeout=2.0)
    try:
        spawn_all(ref)
        spawn_all(cw)
        rng = np.random.default_rng(2)
        for f in range(3):
            frame([cw, ref], rng, f)
        ray.kill(cw.actor(2), no_restart=True)  # no restart possible: the shard is gone for good
        wait_until_dead(cw.actor(2))  # ray.kill is asynchronous: under load a frame could still reach it
        t0 = time.monotonic()
        res = frame([cw, ref], rng, 3)[0]
        assert time.monotonic() - t0 < 30.0
        assert res.lost == (2,) and cw.lost_shards == {2}
        gone = np.array(sorted(cw.lost_brains))
        alive = np.array([b.id for b in cw.brains if b.id not in cw.lost_brains])
        assert gone.size and alive.size and all(cw.brain(int(i)).lost for i in gone)
        for f in range(4, 8):
            res = frame([cw, ref], rng, f)[0]
            assert not res.rolled_back and not res.lost
            assert_rows_equal(ref, cw, alive)
        legs = cw.group("npc").actuator("legs")
        lost_rows = [r for r, b in enumerate(cw.group("npc").brains) if b.id in cw.lost_brains]
        assert not np.any(legs[lost_rows])
        with pytest.raises(Exception, match="lost"):
            cw.brain(int(gone[0])).state("hid", "v")
        # the game can drop the lost brains and spawn replacements on the surviving shards
        cw.despawn([int(i) for i in gone])
        ref.despawn([int(i) for i in gone])
        cw.spawn(npc_circuit(), 3)
        ref.spawn(npc_circuit(), 3)
        assert {cw.shard_of(b.id) for b in cw.brains} <= {0, 1}
        for f in range(8, 11):
            frame([cw, ref], rng, f)
            assert_rows_equal(ref, cw, np.array([b.id for b in cw.brains]))
    finally:
        cw.close()
