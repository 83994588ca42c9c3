"""One shard of a :class:`~spikeforge.cluster.world.ClusterWorld`: a plain :class:`World` that
holds some of the brains, driven by the coordinator.

:class:`Shard` is Ray-free (it is tested in-process too); :func:`shard_actor_class` wraps it as
a Ray actor. The coordinator hands every shard the same prototypes in the same order and
chooses the brains' serials, so a brain's RNG key (``brain_key(seed, serial)``) and its
connectivity draw do not depend on which shard holds it: a sharded run is bit-for-bit a
single-process run.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from spikeforge.model.circuit import Circuit
from spikeforge.runtime.world import World

ShardInfo = dict[str, Any]
"""What a shard reports after its layout changed (see :meth:`Shard.info`)."""

RunResult = dict[str, Any]
"""What one :meth:`Shard.run` returns (see there)."""


class ShardRestartedError(RuntimeError):
    """The shard's actor was restarted by Ray and holds none of its brains until the
    coordinator restores its checkpoint (:meth:`Shard.restore`).

    Raised instead of running a call on the empty World, so that a shard that died *between*
    frames (the next call queued to its restarted actor) is recovered like one that died
    during a frame, never run on silently.
    """


def _actor_was_restarted() -> bool:
    """Whether this process is a Ray actor that Ray restarted (False outside Ray)."""
    try:
        import ray
    except ImportError:  # in-process use without Ray
        return False
    if not ray.is_initialized():
        return False
    ctx = ray.get_runtime_context()
    # a Shard made in the driver (in-process use, tests) is no actor: Ray asserts on the question
    return ctx.get_actor_id() is not None and bool(ctx.was_current_actor_reconstructed)


class Shard:
    """A World holding one shard's brains.

    Parameters
    ----------
    index : int
        Shard number (for messages).
    dt : float
        Fixed step (s).
    seed : int
        The cluster world's seed (the same on every shard).
    max_substeps : int
        As :class:`World`.
    backend : str
        Backend of the shard's World (``"native"`` normally).
    threads : int
        Native worker threads of this shard (``SPIKEFORGE_THREADS``).
    """

    def __init__(self, index: int, dt: float, seed: int, max_substeps: int, backend: str, threads: int) -> None:
        os.environ["SPIKEFORGE_THREADS"] = str(int(threads))
        self.index = index
        self.backend_request = backend
        # compact: the coordinator mirrors the shard's layout row for row (no free slots)
        self.world = World(dt=dt, backend=backend, seed=seed, max_substeps=max_substeps, compact=True)
        self.started = time.time()
        # a restarted actor starts empty: every call that needs the brains waits for restore()
        self.needs_restore = _actor_was_restarted()
        # the last frame's (serial, reply) and the serial of a frame in progress: a compiled graph
        # that breaks loses every reply, and the coordinator asks for them here (frame_status)
        self._last: tuple[int, Any] | None = None
        self._running = -1
        self._seq_max = 0  # highest frame serial started: a frame runs at most once, never after a later one
        # the graph's loop and ordinary calls run on different threads of the actor
        self._frame_lock = threading.Lock()

    def _require_brains(self, call: str) -> None:
        if self.needs_restore:
            raise ShardRestartedError(f"shard {self.index}: {call}(): the actor was restarted by Ray and holds "
                                      "no brains until its checkpoint is restored")

    # ------------------------------------------------------------------ identity
    def ping(self) -> dict[str, Any]:
        """Process id, node, start time and brain count (used to wait for a restarted actor)."""
        node = ""
        try:
            import ray

            if ray.is_initialized():
                node = ray.get_runtime_context().get_node_id()
        except ImportError:  # in-process use without Ray
            pass
        return {"pid": os.getpid(), "node": node, "started": self.started, "restarted": _actor_was_restarted(),
                "needs_restore": self.needs_restore, "brains": self.world.layout.n_brains,
                "backend": self.world.backend_name}

    def info(self) -> ShardInfo:
        """The shard's layout as the coordinator needs it to map rows, organs and neurons."""
        L = self.world.layout
        return {
            "brain_serial": L.brain_serial.astype(np.int64),
            "brain_start": L.brain_start.astype(np.int64),
            "brain_step": L.brain_step.astype(np.int64),
            "sensor_groups": [(g.proto, g.name, g.brain0, g.brains, g.channels, g.offset) for g in L.sensor_groups],
            "actuator_groups": [(g.proto, g.name, g.brain0, g.brains, g.width, g.out_offset)
                                for g in L.actuator_groups],
            "sensor_size": int(L.sensor_values.size), "act_size": int(L.act_out.size),
            "neurons": L.n_neurons, "synapses": L.n_synapses, "prototypes": len(L.prototypes),
            "step_count": self.world.step_count,
        }

    # ------------------------------------------------------------------ brains
    def spawn(self, circuit: Circuit, first_serial: int, count: int) -> ShardInfo:
        """Spawn ``count`` brains of ``circuit`` with serials ``first_serial ...``.

        Only prototypes with brains are compiled here, so a shard's prototype order is its own
        (the coordinator maps it); prototype indices do not enter the numbers a brain computes.
        """
        self._require_brains("spawn")
        if count:
            # the brain's serial (and so its RNG key and connectivity) is the cluster's spawn index
            self.world._next_serial = first_serial
            got = self.world.spawn(circuit, count)
            ids = [b.id for b in got]
            if ids != list(range(first_serial, first_serial + count)):
                raise RuntimeError(f"shard {self.index}: World.spawn gave ids {ids[:3]}..., expected serials "
                                   f"{first_serial}..{first_serial + count - 1}")
        return self.info()

    def despawn(self, ids: list[int]) -> ShardInfo:
        """Remove brains from this shard.

        Parameters
        ----------
        ids : list of int
            Brain serials (cluster-wide ids) held by this shard.

        Returns
        -------
        ShardInfo
            The shard's new layout, for the coordinator's mirror.
        """
        self._require_brains("despawn")
        self.world.despawn(ids)
        return self.info()

    # ------------------------------------------------------------------ running
    def run(self, mode: str, arg: float, clock: tuple[float, int], sensors: npt.NDArray[np.float32],
            flags: npt.NDArray[np.int32], checkpoint: bool) -> RunResult:
        """Run one frame.

        Parameters
        ----------
        mode : str
            ``"advance"`` (``arg`` = frame time in s; the shard's clock is first set to the
            coordinator's ``clock`` = (accumulator s, frames) so LOD and step counts match) or
            ``"step"`` (``arg`` = exact number of steps, LOD ignored).
        sensors : float32 array
            The shard's whole ``sensor_values`` buffer.
        flags : int32 array, shape (3, brains)
            Rows: sleeping (0/1), lod_every, learn (0/1) per shard brain.
        checkpoint : bool
            Also return a snapshot (bytes) taken after the frame.

        Returns
        -------
        dict
            ``steps``, ``act_out`` (float32), ``brain_step`` (int64), ``spike_counts`` (int32, spikes
            per step of the frame), ``spike_neurons`` (int32, shard layout indices, by step then
            neuron), ``checkpoint`` (bytes or None), ``sim_s`` (seconds spent in the World).
        """
        steps, record, sim = self._run(mode, arg, clock, sensors, flags)
        L = self.world.layout
        # spikes are sorted by step: send a count per step instead of an int64 stamp per spike
        first = self.world.step_count - steps
        counts = np.bincount((record.steps - first).astype(np.int64), minlength=steps).astype(np.int32)
        return {"steps": steps, "act_out": L.act_out, "brain_step": L.brain_step,
                "spike_counts": counts, "spike_neurons": record.neurons,
                "checkpoint": self.checkpoint() if checkpoint else None, "sim_s": sim}

    def frame(self, request: bytes) -> bytes | tuple[bytes, bytes]:
        """Run one frame sent as :func:`~spikeforge.cluster.wire.pack_request` bytes (the
        coordinator's per-frame call: one bytes argument and one bytes reply are Ray's cheapest
        payload; also the method a compiled frame graph runs).

        Parameters
        ----------
        request : bytes
            Mode, frame time or steps, the coordinator's clock, the checkpoint switch, the
            frame serial, the shard's sensor values and per-brain flags (see :meth:`run`).
            Empty: nothing to run this frame (a compiled graph feeds every shard).

        Returns
        -------
        bytes or tuple of (bytes, bytes)
            The :func:`~spikeforge.cluster.wire.pack_reply` bytes (``b""`` for an empty
            request); with the checkpoint switch on, also the snapshot bytes taken after the frame.
        """
        from spikeforge.cluster.wire import pack_reply, unpack_request

        if not request:
            return b""
        req = unpack_request(request)
        with self._frame_lock:
            if req.seq and req.seq <= self._seq_max:
                # already run (its reply was lost with a broken graph and it is asked for again,
                # or the broken graph delivers it late): never step the brains twice
                if self._last is not None and self._last[0] == req.seq:
                    done: bytes | tuple[bytes, bytes] = self._last[1]
                    return done
                return b""  # a stale frame after a newer one: nobody reads this
            self._running = req.seq
            try:
                steps, record, sim = self._run(req.mode, req.arg, req.clock, req.sensors, req.flags)
                L = self.world.layout
                first = self.world.step_count - steps
                reply = pack_reply(steps, sim, L.act_out, L.brain_step, record.steps - first, record.neurons,
                                   L.n_neurons)
                out: bytes | tuple[bytes, bytes] = (reply, self.checkpoint()) if req.checkpoint else reply
            finally:
                self._running = -1
            self._last = (req.seq, out)
            self._seq_max = max(self._seq_max, req.seq)  # after success: a refused frame may come again
        return out

    def frame_status(self, seq: int) -> tuple[str, Any, float]:
        """Whether frame ``seq`` ran here (asked after a compiled graph broke and lost the replies).

        Parameters
        ----------
        seq : int
            The coordinator's frame serial.

        Returns
        -------
        tuple of (str, object, float)
            ``("done", reply, started)`` with :meth:`frame`'s return value; ``("running", None,
            started)`` while it runs; ``("absent", None, started)`` when it never arrived;
            ``("restarted", None, started)`` when this is an actor Ray restarted (empty).
            ``started`` is the actor process's start time (s since the epoch).
        """
        if self.needs_restore:
            return "restarted", None, self.started
        if self._last is not None and self._last[0] == seq:
            return "done", self._last[1], self.started
        if self._running == seq:
            return "running", None, self.started
        return "absent", None, self.started

    def _run(self, mode: str, arg: float, clock: tuple[float, int], sensors: npt.NDArray[np.float32],
             flags: npt.NDArray[np.int32]) -> tuple[int, Any, float]:
        """Set the frame's inputs and run it: (steps, the World's SpikeRecord, seconds inside)."""
        self._require_brains("frame")
        w = self.world
        L = w.layout
        if sensors.shape != L.sensor_values.shape:
            raise ValueError(f"shard {self.index}: sensors: expected {L.sensor_values.size} values, got "
                             f"{sensors.size} (stale layout?)")
        if flags.shape != (3, L.n_brains):
            raise ValueError(f"shard {self.index}: flags: expected shape (3, {L.n_brains}), got {flags.shape}")
        t0 = time.perf_counter()
        L.sensor_values[...] = sensors
        L.sleeping[...] = flags[0] != 0
        L.lod_every[...] = flags[1]
        learn = flags[2]
        if not np.array_equal(L.learn, learn):
            w.backend.pull_state()
            L.learn[...] = learn
            w.backend.push_state()
        if mode == "advance":
            w.clock.accumulator, w.clock.frames = float(clock[0]), int(clock[1])
            res = w.advance(float(arg))
            steps, record = res.steps, res.spikes
        elif mode == "step":
            steps, record = int(arg), w.step(int(arg))
        else:
            raise ValueError(f"mode: must be 'advance' or 'step', got {mode!r}")
        return steps, record, time.perf_counter() - t0

    def reward(self, values: npt.NDArray[np.float64]) -> None:
        """Add one reward per shard brain (shard row order)."""
        self._require_brains("reward")
        self.world.reward(values)

    def learning(self, enabled: bool | None) -> bool:
        """Read or set the shard World's world-wide learning switch (``World.learning``).

        Parameters
        ----------
        enabled : bool or None
            ``True``/``False`` to switch plasticity on/off; ``None`` only reads it.

        Returns
        -------
        bool
            The switch's state afterwards.
        """
        self._require_brains("learning")
        return self.world.learning(enabled)

    def set_step_count(self, step: int) -> None:
        """Stamp the shard World's step counter with the cluster's (after a restore or a lost frame).

        Parameters
        ----------
        step : int
            World steps run so far, as counted by the coordinator.
        """
        self.world.step_count = int(step)

    # ------------------------------------------------------------------ brain state reads
    def brain_state(self, serial: int, population: str, key: str) -> npt.NDArray[Any]:
        """A copy of one per-neuron state array of one population of one brain."""
        return np.array(self.world.brain(serial)[population].state(key))

    def weights(self, serial: int, projection: str) -> dict[str, npt.NDArray[Any]]:
        """Weights (copy), eligibility, and brain-local pre/post neuron of one projection of one brain."""
        v = self.world.brain(serial).weights(projection)
        return {"w": np.array(v.w), "elig": np.array(v.elig), "pre": v.pre, "post": v.post}

    def set_weights(self, serial: int, projection: str, values: npt.NDArray[np.float64]) -> None:
        """Overwrite one projection's weights in one brain (``SynapseView.set``).

        Parameters
        ----------
        serial : int
            The brain's cluster-wide id.
        projection : str
            Projection name.
        values : float64 array
            One finite value per synapse, in :meth:`weights` order (mV of drive per spike).
        """
        self._require_brains("set_weights")
        self.world.brain(serial).weights(projection).set(values)

    def dopamine(self) -> npt.NDArray[np.float32]:
        """A copy of the dopamine level of every shard brain (shard row order), for tests and dashboards."""
        self.world.backend.pull_state()
        return np.array(self.world.layout.dopamine)

    def stats(self) -> dict[str, Any]:
        """``World.stats()`` of the shard merged with :meth:`ping` (pid, node, uptime)."""
        out = self.world.stats()
        out.update(self.ping())
        return out

    # ------------------------------------------------------------------ snapshots
    def checkpoint(self) -> bytes:
        """The shard's whole state as snapshot-file bytes (``World.save``)."""
        self._require_brains("checkpoint")
        with tempfile.TemporaryDirectory(prefix="spikeforge-shard-") as d:
            p = Path(d) / "shard.snapshot"
            self.world.save(p)
            return p.read_bytes()

    def restore(self, data: bytes, step_count: int) -> ShardInfo:
        """Replace the shard's World by a snapshot (bytes) and stamp it at the cluster's step."""
        with tempfile.TemporaryDirectory(prefix="spikeforge-shard-") as d:
            p = Path(d) / "shard.snapshot"
            p.write_bytes(data)
            world = World.load(p, backend=self.backend_request)
        world.compact = True  # a shard's snapshot has no free slots (see __init__)
        self.world.backend.close()
        self.world = world
        self.world.step_count = int(step_count)
        self.needs_restore = False
        self._last, self._seq_max = None, 0  # the coordinator re-runs the failed frame on this state
        return self.info()

    def close(self) -> None:
        """Release the shard World's backend (native threads, GPU buffers)."""
        self.world.backend.close()


def shard_actor_class(max_restarts: int) -> Any:
    """The Ray actor class of :class:`Shard` (Ray imported lazily: it is the ``[cluster]`` extra)."""
    import ray

    return ray.remote(max_restarts=max_restarts, max_task_retries=0)(Shard)
