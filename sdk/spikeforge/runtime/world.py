"""The World: all brains of a game, one flat layout, one backend, one fixed-timestep clock.

Per frame: the game writes sensor arrays, calls ``advance(frame_dt)`` (k fixed steps in
ONE backend call), reads actuator arrays, and receives batched spike events.

Example
-------
>>> from spikeforge import World, Circuit, LIF
>>> c = Circuit("blob").add_population("n", 10, LIF(bias=20.0))
>>> world = World(dt=0.001, backend="numpy", seed=1)
>>> brains = world.spawn(c, count=3)
>>> frame = world.advance(1 / 60)
>>> frame.steps
16
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from spikeforge.engine.backend import Backend, SpikeRecord, create_backend, resolve_backend
from spikeforge.engine.compiler import compile_prototype, instantiate, max_delay, proj_channels
from spikeforge.engine.layout import BrainBlock, Layout, PrototypeInfo, assemble
from spikeforge.engine.rng import brain_key
from spikeforge.model.circuit import Circuit
from spikeforge.model.genome import genome_to_circuit
from spikeforge.runtime.brain import Brain, PrototypeGroup
from spikeforge.runtime.bus import SpikeBus
from spikeforge.runtime.clock import FixedClock

log = logging.getLogger("spikeforge.world")


@dataclass(frozen=True)
class FrameResult:
    """What one ``advance`` did.

    Attributes
    ----------
    steps : int
        Fixed steps run this frame.
    alpha : float
        Leftover fraction of a step (for interpolation).
    spikes : SpikeRecord
        All spikes of the frame (global neuron indices, step stamps).
    """

    steps: int
    alpha: float
    spikes: SpikeRecord


class World:
    """A simulation of many brains.

    Parameters
    ----------
    dt : float
        Fixed step (s). Default 1 ms.
    backend : str
        ``"auto"``, ``"numpy"``, ``"native"`` or ``"gpu"``.
    seed : int
        World seed; brain ``i`` (in spawn order) gets RNG key ``brain_key(seed, i)``.
    max_substeps : int
        Most steps one ``advance`` runs (the rest of a long frame is dropped, counted in
        ``stats()["dropped_steps"]`` and warned about once per burst of dropping frames);
        settable later as :attr:`max_substeps`.
    """

    def __init__(self, dt: float = 0.001, backend: str = "auto", seed: int = 0, max_substeps: int = 64) -> None:
        self.clock = FixedClock(dt, max_substeps)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed: must be an integer >= 0, got {seed!r}")
        self.dt = float(dt)
        self.seed = seed
        self.backend_request = backend
        self.backend_name, reasons = resolve_backend(backend)
        self.backend_reasons = reasons
        self.bus = SpikeBus()
        self.step_count = 0
        self.frame_count = 0
        self.total_spikes = 0
        self.sensor_nan_frames = 0
        self._next_serial = 0
        self._prototypes: list[PrototypeInfo] = []
        self._proto_by_genome: dict[str, int] = {}
        self._brains: dict[int, Brain] = {}
        self._index: dict[int, int] = {}
        self._in_advance = False
        self._dropping = False  # inside a burst of frames that drop steps (warned once)
        self.drop_bursts = 0
        self.layout_generation = 0  # bumped whenever the layout's arrays are replaced
        self.bus.known_populations = self._known_populations
        self.layout: Layout = self._assemble([])
        self.backend: Backend = create_backend(self.backend_name, self.layout)

    # ------------------------------------------------------------------ properties
    @property
    def max_substeps(self) -> int:
        """Most fixed steps one :meth:`advance` runs; a longer frame's rest is dropped."""
        return self.clock.max_substeps

    @max_substeps.setter
    def max_substeps(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"max_substeps: must be an integer >= 1, got {n!r}")
        self.clock.max_substeps = n

    def _known_populations(self) -> dict[str, list[str]] | None:
        """Population names per prototype name (None before the first spawn)."""
        if not self._prototypes:
            return None
        return {p.circuit.name: list(p.pop_names) for p in self._prototypes}

    @property
    def time(self) -> float:
        """World time (s): steps run times dt."""
        return self.step_count * self.dt

    @property
    def brains(self) -> list[Brain]:
        """Live brains in layout order (prototypes contiguous, spawn order within)."""
        return [self._brains[int(s)] for s in self.layout.brain_serial]

    def brain(self, brain_id: int) -> Brain:
        try:
            return self._brains[brain_id]
        except KeyError:
            raise LookupError(f"brain: no live brain with id {brain_id}") from None

    def group(self, prototype: Circuit | str) -> PrototypeGroup:
        """The (brains x channels) organ arrays of one prototype.

        A :class:`Circuit` selects the prototype compiled from exactly that circuit; a name
        selects the prototype of that name and is an error when several circuits share it.
        """
        if isinstance(prototype, Circuit):
            key = json.dumps(prototype.to_dict(), sort_keys=True)
            if key not in self._proto_by_genome:
                raise KeyError(f"prototype: circuit {prototype.name!r} was not spawned in this world")
            return PrototypeGroup(self, self._proto_by_genome[key])
        matches = [p.index for p in self._prototypes if p.circuit.name == prototype]
        if not matches:
            raise KeyError(f"prototype: no circuit named {prototype!r} was spawned in this world")
        if len(matches) > 1:
            raise KeyError(f"prototype: {len(matches)} different circuits are named {prototype!r}; "
                           "pass the Circuit object to choose one")
        return PrototypeGroup(self, matches[0])

    @property
    def prototypes(self) -> list[PrototypeInfo]:
        return list(self._prototypes)

    # ------------------------------------------------------------------ spawning
    def _prototype_for(self, circuit: Circuit) -> PrototypeInfo:
        key = json.dumps(circuit.to_dict(), sort_keys=True)
        if key in self._proto_by_genome:
            return self._prototypes[self._proto_by_genome[key]]
        pid_base = sum(len(p.pop_names) for p in self._prototypes)
        proj_base = sum(len(p.circuit.projections) for p in self._prototypes)
        proto = compile_prototype(circuit, len(self._prototypes), self.dt * 1000.0, pid_base, proj_base)
        self._prototypes.append(proto)
        self._proto_by_genome[key] = proto.index
        return proto

    def _depth(self) -> int:
        """Delay-ring depth: the longest delay of any prototype (prototypes are never removed,
        so the depth never shrinks and pending spikes always keep their slot)."""
        return max([1, *(max_delay(p) for p in self._prototypes)])

    def _assemble(self, blocks: list[BrainBlock]) -> Layout:
        blocks = sorted(blocks, key=lambda b: b.proto)  # stable: spawn order within a prototype
        chans = np.array([c for p in self._prototypes for c in proj_channels(p)], dtype=np.int32)
        layout = assemble(self.dt * 1000.0, self._depth(), list(self._prototypes), blocks, chans)
        self._index = {int(s): i for i, s in enumerate(layout.brain_serial)}
        return layout

    def _relayout(self, keep: list[int], new_blocks: list[BrainBlock]) -> None:
        self.layout_generation += 1
        self.backend.pull_state()
        blocks = [self.layout.extract(i) for i in keep] + new_blocks
        layout = self._assemble(blocks)
        layout.learning = self.layout.learning
        self.backend.close()
        self.layout = layout
        self.backend = self._new_backend(layout)

    def _new_backend(self, layout: Layout) -> Backend:
        """A backend for ``layout``; ``"auto"`` decides again for the new size (GPU cost model)."""
        backend = create_backend(self.backend_request if self.backend_request == "auto" else self.backend_name,
                                 layout)
        self.backend_name = backend.name
        return backend

    def _circuit_named(self, name: object) -> Circuit:
        """The circuit a ``spawn`` argument names: a Circuit, or the name of one spawned before."""
        if isinstance(name, Circuit):
            return name
        known = sorted({p.circuit.name for p in self._prototypes})
        if not isinstance(name, str):
            raise TypeError(f"circuit: expected a Circuit or the name of a circuit spawned in this world, "
                            f"got {type(name).__name__}; known circuits: {known}")
        matches = [p for p in self._prototypes if p.circuit.name == name]
        if not matches:
            raise KeyError(f"circuit: no circuit named {name!r} was spawned in this world; known circuits: {known} "
                           "(pass a Circuit object to spawn a new one)")
        if len(matches) > 1:
            raise KeyError(f"circuit: {len(matches)} different circuits are named {name!r}; "
                           "pass the Circuit object to choose one")
        return genome_to_circuit(matches[0].genome)

    def spawn(self, circuit: Circuit | str, count: int = 1) -> list[Brain]:
        """Spawn ``count`` brains of ``circuit`` (a Circuit, or the name of a circuit already
        spawned here); other brains' state is untouched and held handles stay valid."""
        self._check_not_in_advance("spawn")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count: must be an integer >= 0, got {count!r}")
        proto = self._prototype_for(self._circuit_named(circuit))
        new_blocks, handles = [], []
        depth = self._depth()
        for _ in range(count):
            serial = self._next_serial
            self._next_serial += 1
            new_blocks.append(instantiate(proto, serial, brain_key(self.seed, serial), self.seed, depth))
            handle = Brain(self, serial, proto.circuit.name)
            self._brains[serial] = handle
            handles.append(handle)
        self._relayout(list(range(self.layout.n_brains)), new_blocks)
        return handles

    def despawn(self, brains: Brain | int | Iterable[Brain | int]) -> None:
        """Remove brains; other brains' state is untouched."""
        self._check_not_in_advance("despawn")
        items = [brains] if isinstance(brains, (Brain, int)) else list(brains)
        ids = {int(b.id) if isinstance(b, Brain) else int(b) for b in items}
        missing = ids - set(self._index)
        if missing:
            raise LookupError(f"despawn: no live brain with id(s) {sorted(missing)}")
        keep = [i for i in range(self.layout.n_brains) if int(self.layout.brain_serial[i]) not in ids]
        self._relayout(keep, [])
        for i in ids:
            self._brains.pop(i, None)

    # ------------------------------------------------------------------ running
    def _check_not_in_advance(self, what: str) -> None:
        if self._in_advance or self.bus.publishing:
            raise RuntimeError(f"{what}() was called from inside World.advance (a spike callback?); "
                               "defer it until advance returns")

    def _active_mask(self, use_lod: bool) -> npt.NDArray[np.bool_] | None:
        L = self.layout
        if L.n_brains == 0:
            return None
        awake = ~L.sleeping
        if use_lod:
            awake &= ((self.clock.frames + L.brain_serial) % L.lod_every) == 0
        return None if bool(awake.all()) else awake

    def _run(self, n: int, use_lod: bool) -> SpikeRecord:
        self._check_not_in_advance("advance")
        if n == 0 or self.layout.n_brains == 0:
            self.step_count += n
            return SpikeRecord.empty()
        nan_mask = np.isnan(self.layout.sensor_values)
        if nan_mask.any():  # zero-copy writes cannot be checked on write; the encoder maps NaN to low
            self.sensor_nan_frames += 1
            log.warning("%d NaN sensor value(s) this frame were read as the range's low end",
                        int(nan_mask.sum()))
        active = self._active_mask(use_lod)
        self._in_advance = True
        try:
            record = self.backend.advance(n, self.step_count, active)
        finally:
            self._in_advance = False
        if self.backend.replacement is not None:  # e.g. GPU device lost: the frame was re-run on the CPU
            log.warning("backend %r failed and handed the world to %r", self.backend_name,
                        self.backend.replacement.name)
            self.backend = self.backend.replacement
            self.backend_name = self.backend_request = self.backend.name
        self.step_count += n
        self.total_spikes += int(record.neurons.size)
        self.bus.publish(self.layout, record)
        return record

    def advance(self, frame_dt: float) -> FrameResult:
        """Accumulate ``frame_dt`` seconds and run the whole fixed steps due (one backend call)."""
        if self._in_advance or self.bus.publishing:
            raise RuntimeError("advance() was called from inside a spike callback; "
                               "re-entering the world's step is not allowed")
        dropped = self.clock.dropped_steps
        n = self.clock.accumulate(frame_dt)
        self.frame_count += 1
        self._note_dropped(self.clock.dropped_steps - dropped, frame_dt)
        record = self._run(n, use_lod=True)
        return FrameResult(n, self.clock.alpha, record)

    def _note_dropped(self, lost: int, frame_dt: float) -> None:
        """Warn once per burst of frames that drop steps (counted in ``stats()``)."""
        if lost <= 0:
            self._dropping = False
            return
        if not self._dropping:
            self.drop_bursts += 1
            log.warning("advance(%g s) needed %d more steps than max_substeps=%d allows: dropped them "
                        "(the world now runs slower than real time; stats()['dropped_steps'] counts every "
                        "dropped step; raise World.max_substeps to drop fewer). Warned once per burst.",
                        frame_dt, lost, self.clock.max_substeps)
        self._dropping = True

    def step(self, n: int = 1) -> SpikeRecord:
        """Run exactly ``n`` steps of every awake brain (ignores the clock and LOD)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n: must be an integer >= 0, got {n!r}")
        self._check_not_in_advance("step")
        return self._run(n, use_lod=False)

    # ------------------------------------------------------------------ learning
    def learning(self, enabled: bool | None = None) -> bool:
        """The world's learning switch: with ``False`` no weight or threshold changes anywhere
        (traces and dopamine still evolve). ``None`` only reads it. Returns the new state."""
        if enabled is not None:
            if not isinstance(enabled, (bool, np.bool_)):
                raise ValueError(f"enabled: must be true or false, got {enabled!r}")
            self.backend.pull_state()
            self.layout.learning = bool(enabled)
            self.backend.push_state()
        return bool(self.layout.learning)

    def reward(self, values: npt.ArrayLike) -> None:
        """Add ``values`` (one per brain, in ``world.brains`` order, or one scalar for all) to
        each brain's dopamine level (reward-modulated STDP; see ``docs/semantics.md``)."""
        L = self.layout
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(L.n_brains, float(arr))
        if arr.shape != (L.n_brains,):
            raise ValueError(f"reward: expected {L.n_brains} values (one per brain), got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValueError(f"reward: value for brain row {bad} is {arr[bad]!r}; rewards must be finite")
        self.backend.add_reward(arr.astype(np.float32))

    # ------------------------------------------------------------------ reports
    def stats(self) -> dict[str, Any]:
        """Counts for dashboards: brains, neurons, synapses, steps, spikes, memory."""
        L = self.layout
        mem = L.nbytes()
        return {
            "brains": L.n_brains, "neurons": L.n_neurons, "synapses": L.n_synapses,
            "steps": self.step_count, "time_s": self.time, "spikes": self.total_spikes,
            "mean_rate_hz": (self.total_spikes / (L.n_neurons * self.time)
                             if L.n_neurons and self.time > 0 else 0.0),
            "backend": self.backend.name, "dropped_steps": self.clock.dropped_steps,
            "drop_bursts": self.drop_bursts, "max_substeps": self.clock.max_substeps,
            "bus_errors": self.bus.errors, "bytes": mem,
        }

    # ------------------------------------------------------------------ snapshots
    def save(self, path: str | Path) -> None:
        """Write an atomic, versioned snapshot holding every variable (see snapshot module)."""
        from spikeforge.runtime.snapshot import save_world

        self._check_not_in_advance("save")
        self.backend.pull_state()
        save_world(self, Path(path))

    @classmethod
    def load(cls, path: str | Path, backend: str = "auto") -> World:
        """Restore a world saved with :meth:`save`; resuming is bit-exact."""
        from spikeforge.runtime.snapshot import load_world

        return load_world(Path(path), backend)

    def _restore(self, manifest: dict[str, Any], layout: Layout) -> None:
        """Install a loaded layout (used by the snapshot loader)."""
        self.backend.close()
        self.layout_generation += 1
        self._prototypes = list(layout.prototypes)
        self._proto_by_genome = {
            json.dumps(genome_to_circuit(p.genome).to_dict(), sort_keys=True): p.index for p in self._prototypes}
        self.layout = layout
        self._index = {int(s): i for i, s in enumerate(layout.brain_serial)}
        self._brains = {int(s): Brain(self, int(s), layout.prototypes[int(layout.brain_proto[i])].circuit.name)
                        for i, s in enumerate(layout.brain_serial)}
        self.step_count = int(manifest["step_count"])
        self.frame_count = int(manifest["frame_count"])
        self.total_spikes = int(manifest["total_spikes"])
        self._next_serial = int(manifest["next_serial"])
        self.clock.accumulator = float(manifest["clock"]["accumulator"])
        self.clock.frames = int(manifest["clock"]["frames"])
        self.clock.dropped_steps = int(manifest["clock"]["dropped_steps"])
        self.backend = self._new_backend(layout)

