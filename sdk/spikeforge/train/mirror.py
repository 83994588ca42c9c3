"""A differentiable PyTorch mirror of one spikeforge circuit.

:class:`CircuitMirror` runs the step of ``docs/semantics.md`` (the numpy backend's
order of float32 operations) on a batch of brains with identical connectivity, with
spikes that carry a surrogate gradient (:mod:`spikeforge.train.surrogate`), so a loss
on spikes or actuator outputs can be back-propagated through time (BPTT) to the
projection weights, and optionally to thresholds and membrane time constants.

Exactness (what makes deployment bit-for-bit):

* the forward uses the runtime's own float32 parameters (``engine/params.py``) and its
  order of operations; torch's float32 elementwise CPU kernels do not contract
  ``a*b+c`` into FMAs;
* weights pass through a straight-through quantiser to multiples of ``2^-16`` (the
  fixed-point format of the delay ring), and synaptic input is summed in float64 (exact
  for sums of such multiples below 2^37) and rounded once to float32, as the runtime's
  integer sum ``f32(sum) * 2^-16``;
* sensors are encoded by the runtime's own numpy encoders and the forced (Poisson /
  Gaussian) and excitability spikes come from the runtime's counter-based RNG
  (``engine/rng.py``) with each brain's key and step, so the mirror sees the same input
  spikes.

Supported: the LIF family (LIF, AdaptiveLIF, ModulatedLIF without bursts and snooze),
chemical and modulatory projections with any delays, current / Poisson / Gaussian /
event sensors, rate and population-vector actuators. Izhikevich neurons, bursts,
consecutive-fire snooze and gap junctions raise ``ValueError`` naming the part.
Plasticity is not simulated: the mirror is the brain *frozen* (its spikes equal the
runtime's with learning on until the first weight change).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from spikeforge.engine import params as P
from spikeforge.engine import rng
from spikeforge.engine.layout import FIXED_INV, BrainBlock, Layout, PrototypeInfo
from spikeforge.engine.numpy_backend import channel_prefs, clip_sensor, gauss_lookup, gaussian_prefs
from spikeforge.model.circuit import Circuit
from spikeforge.model.neurons import LIF, AdaptiveLIF
from spikeforge.train.surrogate import SURROGATES, quantize_ste, spike_fn

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

# float32 columns the LIF step reads
_FCOLS = {"vrest": P.F_VREST, "vreset": P.F_VRESET, "vthresh": P.F_VTHRESH, "pvv": P.F_PVV, "pve": P.F_PVE,
          "pvi": P.F_PVI, "pvw": P.F_PVW, "pvd": P.F_PVD, "pee": P.F_PEE, "pii": P.F_PII, "pww": P.F_PWW,
          "pth": P.F_PTH, "pmod": P.F_PMOD, "modgain": P.F_MODGAIN, "bias": P.F_BIAS, "wjump": P.F_WJUMP,
          "thjump": P.F_THJUMP, "excit": P.F_EXCIT}
_STATE = ("v", "ie", "ii", "w", "theta", "mod")


@dataclass
class SensorInfo:
    """One sensor organ of the circuit (brain-local neuron range)."""

    name: str
    kind: int  # 0 current, 1 poisson, 2 gaussian, 3 event
    channels: int
    per_chan: int
    start: int
    low: float
    high: float
    gain: float
    rate: float
    sigma: float


@dataclass
class ActuatorInfo:
    """One actuator organ of the circuit (brain-local neuron range)."""

    name: str
    kind: int  # 0 rate, 1 population vector, 2 wta
    channels: int
    per_chan: int
    start: int
    low: float
    high: float
    width: int


@dataclass
class MirrorState:
    """The state of a batch of ``B`` brains at the start of a run (torch tensors, (B, N)).

    ``pending[k]`` is the fixed-point input (float64, already times ``2^-16``) the delay
    ring will deliver ``k`` steps from now, shape (depth, 3, B, N). ``keys`` (uint32) and
    ``steps`` (int64) place each brain in its RNG stream.
    """

    tensors: dict[str, torch.Tensor]
    hold: torch.Tensor
    iext: F32
    pforce: F32
    pending: torch.Tensor
    keys: npt.NDArray[np.uint32]
    steps: I64

    @property
    def batch(self) -> int:
        """Number of brains ``B`` in the batch."""
        return int(self.keys.size)


@dataclass
class MirrorOutput:
    """What :meth:`CircuitMirror.run` returns.

    Attributes
    ----------
    spikes : Tensor
        (steps, B, N) float, 1.0 where a neuron spiked (surrogate gradient attached).
    counts : dict[str, Tensor]
        Actuator spike counts per frame, (frames, B, channels).
    actuators : dict[str, Tensor]
        Decoded actuator outputs per frame, (frames, B, width): Hz for rate actuators,
        the value for population vectors, the winner index for wta (no gradient).
    v : Tensor or None
        (steps, B, N) membrane potential after the threshold step (when ``record_v``).
    state : MirrorState
        State after the run (detached): continue with another ``run``.
    """

    spikes: torch.Tensor
    counts: dict[str, torch.Tensor]
    actuators: dict[str, torch.Tensor]
    v: torch.Tensor | None
    state: MirrorState


@dataclass
class _Proj:
    name: str
    index: int          # position in the flattened circuit
    channel: int
    syn: I64            # synapse positions (template order) of this projection
    w_min: float
    w_max: float
    trainable: bool
    extra: dict[str, Any] = field(default_factory=dict)


def _template(circuit: Circuit, dt: float, seed: int) -> tuple[PrototypeInfo, BrainBlock, int]:
    from spikeforge.runtime.world import World

    w = World(dt=dt, backend="numpy", seed=seed)
    w.spawn(circuit, 1)
    L = w.layout
    return L.prototypes[0], L.extract(0), L.depth


class CircuitMirror(torch.nn.Module):
    """Differentiable mirror of the brains of one circuit.

    Parameters
    ----------
    circuit : Circuit
        The brain. Its connectivity and initial state are those of the brain a
        ``World(dt, seed=seed)`` spawns first (serial 0); brains with another draw of a
        random connectivity rule cannot share the mirror's weights (deploy checks).
    dt : float
        Step in seconds (the World's ``dt``).
    seed : int
        World seed of the template brain.
    trainable : iterable of str or None
        Names of chemical projections whose weights are trained (default: all chemical
        projections).
    bounds : dict
        Optional ``{projection: (w_min, w_max)}`` (mV). Always applied: a projection's
        sign (excitatory >= 0, inhibitory <= 0) and a plastic projection's
        ``[w_min, w_max]`` (the runtime clips plastic weights there).
    train_thresholds, train_tau_m : iterable of str
        Populations whose ``v_thresh`` (mV) / ``tau_m`` (ms) are trained.
    surrogate : {"fast_sigmoid", "arctan"}
    slope : float
        Surrogate steepness (1/mV).
    detach_reset : bool
        If True (default) the reset ``v -> v_reset`` carries no gradient through the
        spike (Zenke & Vogels 2021); if False it does (the forward is unchanged).
    no_grad_through : iterable of str
        Projections whose input carries no gradient back to the presynaptic spikes (the
        forward is unchanged). Strong recurrent loops (e.g. mutual inhibition of 8 x 30 mV)
        make the surrogate gradient grow exponentially over a BPTT window; truncating them
        keeps it finite (as e-prop truncates recurrent paths).
    dtype : torch.dtype
        float32 (exact mirror of the runtime) or float64 (gradient checks only).
    quantize : bool
        Straight-through quantisation of weights to the fixed-point format (default True;
        float64 gradient checks switch it off).
    smooth : bool
        Spikes are ``sigma(v - thr)`` in the forward too (gradient checks only).
    """

    def __init__(self, circuit: Circuit, dt: float = 0.001, seed: int = 0, *,
                 trainable: Iterable[str] | None = None,
                 bounds: dict[str, tuple[float, float]] | None = None,
                 train_thresholds: Iterable[str] = (), train_tau_m: Iterable[str] = (),
                 surrogate: str = "fast_sigmoid", slope: float = 1.0, detach_reset: bool = True,
                 no_grad_through: Iterable[str] = (), dtype: torch.dtype = torch.float32, quantize: bool = True,
                 smooth: bool = False) -> None:
        super().__init__()
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate: must be one of {SURROGATES}, got {surrogate!r}")
        if not (isinstance(slope, (int, float)) and math.isfinite(slope) and slope > 0):
            raise ValueError(f"slope: must be a number > 0 (1/mV), got {slope!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype: must be torch.float32 or torch.float64, got {dtype}")
        self.circuit = circuit
        self.dt = float(dt)
        self.seed = int(seed)
        self.surrogate, self.slope, self.detach_reset = surrogate, float(slope), bool(detach_reset)
        self.dtype, self.quantize, self.smooth = dtype, bool(quantize), bool(smooth)
        proto, block, depth = _template(circuit, dt, seed)
        self.proto, self.template, self.depth = proto, block, depth
        flat = proto.circuit
        self.flat = flat
        self.n = proto.n_neurons
        self.dt_ms = self.dt * 1000.0
        self._check_supported(proto, block)
        rows = block.pid - proto.pid_base
        self._fnp = {k: proto.fparams[rows, c].astype(np.float32) for k, c in _FCOLS.items()}
        self.ref_steps = torch.from_numpy(proto.iparams[rows, P.I_REF_STEPS].astype(np.int64))
        self.any_excit = bool(np.any(self._fnp["excit"] < np.float32(1.0)))
        self.pop_rows = rows

        # synapses (template order) and projections
        self.syn_pre = torch.from_numpy(block.syn_pre.astype(np.int64))
        self.syn_post = torch.from_numpy(block.synapse["post"].astype(np.int64))
        self.syn_delay = block.syn_delay.astype(np.int64)
        local_proj = (block.syn_proj - proto.proj_base).astype(np.int64)
        names = [pr.name for pr in flat.projections]
        train_set = set(names if trainable is None else trainable)
        for nm in train_set:
            if nm not in names:
                raise KeyError(f"trainable: circuit has no projection {nm!r}; it has {names}")
        bounds = dict(bounds or {})
        self.no_grad_through = set(no_grad_through)
        for nm in self.no_grad_through:
            if nm not in names:
                raise KeyError(f"no_grad_through: circuit has no projection {nm!r}; it has {names}")
        for nm in bounds:
            if nm not in names:
                raise KeyError(f"bounds: circuit has no projection {nm!r}; it has {names}")
        self.projs: list[_Proj] = []
        self.weights = torch.nn.ParameterDict()
        self._fixed_w: dict[str, torch.Tensor] = {}
        for j, pr in enumerate(flat.projections):
            if pr.kind == "electrical":
                continue
            syn = np.flatnonzero(local_proj == j)
            lo, hi = (0.0, math.inf) if pr.channel != 1 else (-math.inf, 0.0)
            if pr.kind == "modulatory":
                lo, hi = -math.inf, math.inf
            rule = pr.plasticity
            if rule is not None and hasattr(rule, "w_min") and hasattr(rule, "w_max"):
                lo, hi = max(lo, float(rule.w_min)), min(hi, float(rule.w_max))
            if pr.name in bounds:
                blo, bhi = bounds[pr.name]
                lo, hi = max(lo, float(blo)), min(hi, float(bhi))
            if lo > hi:
                raise ValueError(f"bounds: projection {pr.name!r} has an empty range [{lo}, {hi}]")
            # the bounds themselves in the fixed-point format (inward)
            lo = math.ceil(lo * 65536.0) / 65536.0 if math.isfinite(lo) else lo
            hi = math.floor(hi * 65536.0) / 65536.0 if math.isfinite(hi) else hi
            is_tr = pr.name in train_set and pr.kind == "chemical"
            self.projs.append(_Proj(pr.name, j, pr.channel, syn, lo, hi, is_tr))
            w0 = torch.from_numpy(block.synapse["w"][syn].astype(np.float32)).to(dtype)
            if is_tr:
                self.weights[f"p{j}"] = torch.nn.Parameter(w0.clamp(lo, hi))
            else:
                self._fixed_w[pr.name] = w0
        # (delay, channel) groups of synapses, for the dense per-group matrices
        self.max_delay = max([1] + [int(self.syn_delay[p.syn].max()) for p in self.projs if p.syn.size])

        # trainable neuron parameters (per population)
        pops = [p.name for p in flat.populations]
        self.thresholds = torch.nn.ParameterDict()
        self.tau_m = torch.nn.ParameterDict()
        for nm in train_thresholds:
            if nm not in pops:
                raise KeyError(f"train_thresholds: circuit has no population {nm!r}; it has {pops}")
            model = flat.populations[pops.index(nm)].model
            assert isinstance(model, LIF)
            thr0 = torch.tensor(float(np.float32(model.v_thresh)), dtype=dtype)
            self.thresholds[f"n{pops.index(nm)}"] = torch.nn.Parameter(thr0)
        for nm in train_tau_m:
            if nm not in pops:
                raise KeyError(f"train_tau_m: circuit has no population {nm!r}; it has {pops}")
            model = flat.populations[pops.index(nm)].model
            assert isinstance(model, LIF)
            self.tau_m[f"n{pops.index(nm)}"] = torch.nn.Parameter(torch.tensor(float(model.tau_m), dtype=torch.float64))

        # organs
        self.sensors: list[SensorInfo] = []
        from spikeforge.engine.layout import ACTUATOR_KIND_ID, SENSOR_KIND_ID
        for s in flat.sensors:
            sl = proto.pop_slice(s.population)
            self.sensors.append(SensorInfo(s.name, SENSOR_KIND_ID[s.kind], s.channels,
                                           (sl.stop - sl.start) // s.channels, sl.start, s.low, s.high,
                                           s.gain, s.max_rate, s.sigma))
        self.actuators: list[ActuatorInfo] = []
        for a in flat.actuators:
            sl = proto.pop_slice(a.population)
            self.actuators.append(ActuatorInfo(a.name, ACTUATOR_KIND_ID[a.kind], a.channels,
                                               (sl.stop - sl.start) // a.channels, sl.start, a.low, a.high,
                                               a.width))

    # ------------------------------------------------------------------ checks
    def _check_supported(self, proto: PrototypeInfo, block: BrainBlock) -> None:
        flat = proto.circuit
        for i, pop in enumerate(flat.populations):
            fp, ip = proto.fparams[i], proto.iparams[i]
            where = f"populations[{pop.name!r}]"
            if int(ip[P.I_MODEL]) != P.MODEL_LIF:
                raise ValueError(f"{where}.model: the training mirror supports the LIF family only, "
                                 f"got {pop.model.kind!r}")
            if float(fp[P.F_BURST_INV]) != 0.0:
                raise ValueError(f"{where}.model.burst_overshoot: bursts are not supported by the training mirror")
            if int(ip[P.I_CONSEC]) > 0:
                raise ValueError(f"{where}.model.consec_limit: snooze is not supported by the training mirror")
            if pop.background is not None and pop.background.active:
                raise ValueError(f"{where}.background: background noise / Poisson drive is not supported by the "
                                 "training mirror")
        if block.gap_a.size:
            raise ValueError("projections: electrical synapses (gap junctions) are not supported by the mirror")

    # ------------------------------------------------------------------ parameters
    def clamp_(self) -> None:
        """Project trainable parameters back into their constraints (call after each
        optimiser step): weight sign and bounds, thresholds finite, ``tau_m >= dt``."""
        with torch.no_grad():
            for p in self.projs:
                if p.trainable:
                    self.weights[f"p{p.index}"].clamp_(p.w_min, p.w_max)
            for t in self.tau_m.values():
                t.clamp_(min=self.dt_ms)

    def weight(self, projection: str, quantized: bool = True) -> torch.Tensor:
        """Weights of ``projection`` in template synapse order (as deployed when ``quantized``)."""
        for p in self.projs:
            if p.name == projection:
                w = self.weights[f"p{p.index}"] if p.trainable else self._fixed_w[p.name]
                return quantize_ste(w) if quantized and self.quantize else w
        raise KeyError(f"projection: no chemical/modulatory projection {projection!r}")

    def synapses(self, projection: str) -> tuple[I64, I64, I64]:
        """(pre, post, delay) brain-local neuron indices of ``projection``'s synapses (template order)."""
        for p in self.projs:
            if p.name == projection:
                return (self.syn_pre.numpy()[p.syn], self.syn_post.numpy()[p.syn], self.syn_delay[p.syn])
        raise KeyError(f"projection: no chemical/modulatory projection {projection!r}")

    def _matrices(self) -> dict[tuple[int, int, bool], torch.Tensor]:
        """Dense (N, N) float64 input matrices per (delay, channel, gradient-blocked):
        quantised weights."""
        mats: dict[tuple[int, int, bool], torch.Tensor] = {}
        for p in self.projs:
            w = self.weight(p.name).to(torch.float64)
            blocked = p.name in self.no_grad_through
            for d in np.unique(self.syn_delay[p.syn]):
                sel = np.flatnonzero(self.syn_delay[p.syn] == d)
                key = (int(d), p.channel, blocked)
                m = mats.get(key, torch.zeros(self.n, self.n, dtype=torch.float64))
                idx = torch.from_numpy(p.syn[sel])
                m = m.index_put((self.syn_pre[idx], self.syn_post[idx]), w[torch.from_numpy(sel)], accumulate=True)
                mats[key] = m
        return mats

    def _neuron_params(self) -> dict[str, torch.Tensor]:
        """Per-neuron parameter columns (N,), with trained thresholds / tau_m spliced in."""
        dt = self.dtype
        cols = {k: torch.from_numpy(v).to(dt) for k, v in self._fnp.items()}
        for key, thr in self.thresholds.items():
            mask = torch.from_numpy(self.pop_rows == int(key[1:]))
            cols["vthresh"] = torch.where(mask, thr.to(dt), cols["vthresh"])
        for key, tau in self.tau_m.items():
            i = int(key[1:])
            mask = torch.from_numpy(self.pop_rows == i)
            model = self.flat.populations[i].model
            for key, val in _tau_m_columns(model, float(tau.detach()), tau, self.dt_ms).items():
                cols[key] = torch.where(mask, val.to(dt), cols[key])
        return cols

    # ------------------------------------------------------------------ state
    def initial_state(self, batch: int, keys: Sequence[int] | npt.ArrayLike | None = None,
                      start_step: int = 0) -> MirrorState:
        """``batch`` copies of the template brain's spawn state.

        ``keys`` (one uint32 RNG key per element; default ``brain_key(seed, i)``) and
        ``start_step`` place each element in an RNG stream.
        """
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch: must be an integer >= 1, got {batch!r}")
        if keys is None:
            key_arr = np.array([rng.brain_key(self.seed, i) for i in range(batch)], dtype=np.uint32)
        else:
            key_arr = np.asarray(keys, dtype=np.uint64).astype(np.uint32)
            if key_arr.shape != (batch,):
                raise ValueError(f"keys: expected {batch} keys, got shape {key_arr.shape}")
        return self._state_from_blocks([self.template] * batch, key_arr,
                                       np.full(batch, int(start_step), np.int64))

    def state_from_brains(self, brains: Sequence[Any]) -> MirrorState:
        """The current state of live runtime brains (``spikeforge.Brain`` handles of one
        world), incl. their delay rings, RNG keys and steps. Their connectivity must equal
        the template's (ValueError otherwise)."""
        if not brains:
            raise ValueError("brains: need at least one brain")
        world = brains[0]._world
        world.backend.pull_state()
        L: Layout = world.layout
        blocks = [L.extract(b.index) for b in brains]
        for b, blk in zip(brains, blocks, strict=True):
            if blk.n != self.n or not (np.array_equal(blk.syn_pre, self.template.syn_pre)
                                       and np.array_equal(blk.synapse["post"], self.template.synapse["post"])
                                       and np.array_equal(blk.syn_delay, self.template.syn_delay)):
                raise ValueError(f"brains: brain {b.id if hasattr(b, 'id') else b} has another connectivity "
                                 "than the mirror's template")
            if blk.pending.shape[0] > self.depth and np.any(blk.pending[self.depth:]):
                raise ValueError("brains: delay ring deeper than the circuit's longest delay holds input")
        return self._state_from_blocks(blocks, np.array([blk.key for blk in blocks], np.uint32),
                                       np.array([blk.step for blk in blocks], np.int64))

    def _state_from_blocks(self, blocks: Sequence[BrainBlock], keys: npt.NDArray[np.uint32],
                           steps: I64) -> MirrorState:
        dt = self.dtype
        tensors = {k: torch.from_numpy(np.stack([b.neuron[k] for b in blocks]).astype(np.float32)).to(dt)
                   for k in _STATE}
        hold = torch.from_numpy(np.stack([b.neuron["hold"] for b in blocks]).astype(np.int64))
        depth = max(self.max_delay, max(b.pending.shape[0] for b in blocks)) + 1
        pend = np.zeros((depth, 3, len(blocks), self.n), np.float64)
        for i, b in enumerate(blocks):
            pend[:b.pending.shape[0], :, i, :] = b.pending.astype(np.float64) * float(FIXED_INV)
        return MirrorState(tensors, hold, np.stack([b.neuron["iext"] for b in blocks]).astype(np.float32),
                           np.stack([b.neuron["pforce"] for b in blocks]).astype(np.float32),
                           torch.from_numpy(pend), keys.copy(), steps.copy())

    # ------------------------------------------------------------------ encoding
    def encode(self, sensors: Mapping[str, npt.ArrayLike],
               state: MirrorState) -> tuple[F32, F32, npt.NDArray[np.bool_]]:
        """Per-frame ``iext``, ``pforce`` and ``force_once`` (frames, B, N) from sensor values
        ``{name: (frames, B, channels)}``, exactly as the runtime's encoders (numpy)."""
        names = [s.name for s in self.sensors]
        for k in sensors:
            if k not in names:
                raise KeyError(f"sensors: circuit has no sensor {k!r}; it has {names}")
        frames = None
        for k, v in sensors.items():
            a = np.asarray(v)
            if a.ndim != 3:
                raise ValueError(f"sensors[{k!r}]: expected shape (frames, batch, channels), got {a.shape}")
            if frames is None:
                frames = a.shape[0]
            elif a.shape[0] != frames:
                raise ValueError(f"sensors[{k!r}]: {a.shape[0]} frames, others have {frames}")
        if frames is None:
            raise ValueError("sensors: give at least one sensor sequence (frames, batch, channels)")
        B = state.batch
        iext = np.broadcast_to(state.iext, (frames, B, self.n)).copy()
        pforce = np.broadcast_to(state.pforce, (frames, B, self.n)).copy()
        once = np.zeros((frames, B, self.n), bool)
        dt_s = self.dt
        held: dict[str, F32] = {}
        for s in self.sensors:
            if s.name in sensors:
                x = np.asarray(sensors[s.name], dtype=np.float32)
                if x.shape[1:] != (B, s.channels):
                    raise ValueError(f"sensors[{s.name!r}]: expected (frames, {B}, {s.channels}), got {x.shape}")
            else:  # a sensor not given holds zeros (a fresh brain's sensor values)
                x = np.zeros((frames, B, s.channels), np.float32)
            held[s.name] = x
            sl = slice(s.start, s.start + s.channels * s.per_chan)
            xn = np.repeat(x, s.per_chan, axis=2)
            if s.kind == 3:
                once[:, :, sl] = xn >= np.float32(0.5)
                continue
            lo, hi = np.float32(s.low), np.float32(s.high)
            xc = clip_sensor(xn, lo, hi)
            if s.kind == 0:
                iext[:, :, sl] = np.float32(s.gain) * xc
                continue
            rate_dt = np.float32(s.rate * dt_s)
            if s.kind == 1:
                pforce[:, :, sl] = ((xc - lo) * np.float32(1.0 / (s.high - s.low))) * rate_dt
            else:
                from spikeforge.engine.layout import OrganGroup
                g = OrganGroup(0, s.name, s.kind, s.channels, s.channels, s.per_chan, s.start, 0, 1, 0, 0,
                               s.low, s.high, s.gain, s.rate, s.sigma)
                pforce[:, :, sl] = rate_dt * gauss_lookup(np.abs(xc - gaussian_prefs(g)[None, None, :])
                                                          * np.float32(1.0 / (s.sigma * (s.high - s.low))))
        return iext, pforce.astype(np.float32), once

    # ------------------------------------------------------------------ run
    def run(self, sensors: Mapping[str, npt.ArrayLike], steps_per_frame: int, state: MirrorState | None = None,
            record_v: bool = False) -> MirrorOutput:
        """Run ``frames`` advances of ``steps_per_frame`` steps each (sensors held per frame).

        Parameters
        ----------
        sensors : dict
            ``{sensor name: (frames, B, channels)}`` values as the game writes them.
        steps_per_frame : int
            Steps per advance (``frame_dt / dt``).
        state : MirrorState or None
            Start state (default: ``initial_state(B)``).
        record_v : bool
            Also return the membrane potentials.
        """
        if isinstance(steps_per_frame, bool) or not isinstance(steps_per_frame, int) or steps_per_frame < 1:
            raise ValueError(f"steps_per_frame: must be an integer >= 1, got {steps_per_frame!r}")
        if state is None:
            first = np.asarray(next(iter(sensors.values())))
            if first.ndim != 3:
                raise ValueError(f"sensors: expected shape (frames, batch, channels), got {first.shape}")
            state = self.initial_state(int(first.shape[1]))
        iext_f, pforce_f, once_f = self.encode(sensors, state)
        frames, B, N = iext_f.shape[0], state.batch, self.n
        T = frames * steps_per_frame
        dt = self.dtype
        cols = self._neuron_params()
        mats = self._matrices()
        ref_steps = self.ref_steps

        # random draws of the whole run (no gradient): forced and excitability masks
        local = np.arange(N, dtype=np.uint32)
        forced_all = np.zeros((T, B, N), bool)
        excit_ok = np.ones((T, B, N), bool) if self.any_excit else None
        excit = self._fnp["excit"]
        steps_tb = state.steps[None, :] + np.arange(T, dtype=np.int64)[:, None]  # (T, B)
        keys_tb = np.broadcast_to(state.keys[None, :], (T, B))
        pf_t = np.repeat(pforce_f, steps_per_frame, axis=0)  # (T, B, N): sensors hold per frame
        if np.any(pf_t > 0):
            pre = rng.brain_stream(keys_tb, steps_tb, rng.PURPOSE_FORCE)
            forced_all = rng.uniform(pre[:, :, None], local[None, None, :]) < pf_t
        forced_all[::steps_per_frame] |= once_f  # event sensors: the first step of each advance
        if excit_ok is not None:
            pre = rng.brain_stream(keys_tb, steps_tb, rng.PURPOSE_EXCITABILITY)
            excit_ok = (excit >= np.float32(1.0))[None, None, :] | \
                (rng.uniform(pre[:, :, None], local[None, None, :]) < excit[None, None, :])
        forced_t = torch.from_numpy(forced_all)
        excit_t = torch.from_numpy(excit_ok) if excit_ok is not None else None

        s = {k: v.clone() for k, v in state.tensors.items()}
        hold = state.hold.clone()
        depth = state.pending.shape[0]
        pend = state.pending
        hist: list[torch.Tensor] = []  # float64 spikes of past steps
        spikes_out: list[torch.Tensor] = []
        v_out: list[torch.Tensor] = []
        one = torch.tensor(1.0, dtype=dt)
        iext_t = torch.from_numpy(iext_f).to(dt)
        drive_f = (cols["bias"] + iext_t) + torch.zeros((), dtype=dt)  # (BIAS + iext) + igap, igap = 0
        zero_in = torch.zeros(B, N, dtype=dt)
        for t in range(T):
            f = t // steps_per_frame
            # 1. delivery (float64 exact fixed-point sums, rounded once to float32)
            x: list[torch.Tensor | None] = [pend[t, c] if t < depth else None for c in range(3)]
            for (d, c, blocked), m in mats.items():
                if t - d >= 0:
                    term = (hist[t - d].detach() if blocked else hist[t - d]) @ m
                    prev = x[c]
                    x[c] = term if prev is None else prev + term
            xe, xi, xm = (zero_in if xc is None else xc.to(dt) for xc in x)  # one rounding of the exact sum
            mod = s["mod"] * cols["pmod"] + xm
            gain = one + cols["modgain"] * mod
            ie = s["ie"] + xe * gain
            ii = s["ii"] + xi
            # 3. integration (no gap junctions: igap = 0)
            held = hold > 0
            drive = drive_f[f]
            v, w, theta = s["v"], s["w"], s["theta"]
            vrest = cols["vrest"]
            v_lif = vrest + (v - vrest) * cols["pvv"] + ie * cols["pve"] + ii * cols["pvi"] \
                - w * cols["pvw"] + drive * cols["pvd"]
            w = w * cols["pww"]
            v = torch.where(held, v, v_lif)
            ie = ie * cols["pee"]
            ii = ii * cols["pii"]
            theta = theta * cols["pth"]
            hold = torch.where(held, hold - 1, hold)
            # 4. threshold
            can = ~held
            thr = cols["vthresh"] + theta
            above = spike_fn(v, thr, self.surrogate, self.slope, self.smooth)
            gate = can if excit_t is None else can & excit_t[t]
            above = above * gate.to(dt)
            forced = forced_t[t] & can
            spike = torch.where(forced, one, above)
            fire = ((v >= thr) & gate) | forced
            # 5. effects of firing
            if self.smooth and not self.detach_reset:  # gradient checks: the reset the backward assumes
                v_new = v + spike * (cols["vreset"] - v)
            else:
                v_new = torch.where(fire, cols["vreset"], v)
                if not self.detach_reset:  # forward unchanged (+0), backward through the spike
                    v_new = v_new + (spike - spike.detach()) * (cols["vreset"] - v).detach()
            w = torch.where(fire, w + cols["wjump"], w)
            theta = torch.where(fire, theta + cols["thjump"], theta)
            hold = torch.where(fire, ref_steps, hold)
            s = {"v": v_new, "ie": ie, "ii": ii, "w": w, "theta": theta, "mod": mod}
            hist.append(spike.to(torch.float64))
            spikes_out.append(spike)
            if record_v:
                v_out.append(v)
        spikes = torch.stack(spikes_out) if spikes_out else torch.zeros(0, B, N, dtype=dt)

        counts: dict[str, torch.Tensor] = {}
        acts: dict[str, torch.Tensor] = {}
        n_steps = steps_per_frame
        per_frame = spikes.reshape(frames, steps_per_frame, B, N).sum(dim=1)  # exact small integers
        for a in self.actuators:
            sl = slice(a.start, a.start + a.channels * a.per_chan)
            cnt = per_frame[:, :, sl].reshape(frames, B, a.channels, a.per_chan).sum(dim=3)
            counts[a.name] = cnt
            if a.kind == 0:
                acts[a.name] = cnt * float(np.float32(1.0 / (a.per_chan * n_steps * self.dt)))
            elif a.kind == 1:
                prefs = channel_prefs(_group_like(a))
                num = torch.zeros(frames, B, dtype=dt)
                den = torch.zeros(frames, B, dtype=dt)
                for ch in range(a.channels):
                    num = num + cnt[:, :, ch] * float(prefs[ch])
                    den = den + cnt[:, :, ch]
                mid = float(np.float32(0.5 * (a.low + a.high)))
                acts[a.name] = torch.where(den > 0, num / torch.where(den > 0, den, one), mid)[:, :, None]
            else:
                win = cnt.detach().argmax(dim=2).to(dt)
                acts[a.name] = torch.where(cnt.detach().amax(dim=2) > 0, win, -1.0)[:, :, None]

        # the state after the run (detached), incl. the ring's pending input
        new_pend = torch.zeros(depth, 3, B, N, dtype=torch.float64)
        for k in range(depth):
            tt = T + k
            acc = [pend[tt, c] if tt < depth else torch.zeros(B, N, dtype=torch.float64) for c in range(3)]
            for (d, c, _), m in mats.items():
                src = tt - d
                if 0 <= src < T:
                    acc[c] = acc[c] + hist[src].detach() @ m.detach()
            new_pend[k] = torch.stack(acc)
        end = MirrorState({k: v.detach() for k, v in s.items()}, hold.detach(), iext_f[-1], pforce_f[-1],
                          new_pend, state.keys.copy(), state.steps + T)
        return MirrorOutput(spikes, counts, acts, torch.stack(v_out) if record_v else None, end)

    # ------------------------------------------------------------------ deploy
    def trained(self) -> dict[str, dict[str, np.ndarray]]:
        """Deployable weights: ``{projection: {"pre", "post", "delay", "w"}}`` (brain-local
        indices, float32 weights exactly in the runtime's fixed-point format)."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for p in self.projs:
            if not p.trainable:
                continue
            pre, post, delay = self.synapses(p.name)
            w = self.weight(p.name).detach().to(torch.float32).numpy().astype(np.float32)
            out[p.name] = {"pre": pre, "post": post, "delay": delay, "w": w}
        return out

    def neuron_overrides(self) -> dict[str, float]:
        """Trained neuron parameters as ``Circuit.derive`` overrides (``"pop.v_thresh"``, ``"pop.tau_m"``)."""
        out: dict[str, float] = {}
        pops = [p.name for p in self.flat.populations]
        for key, thr in self.thresholds.items():
            out[f"{pops[int(key[1:])]}.v_thresh"] = float(np.float32(float(thr.detach())))
        for key, tau in self.tau_m.items():
            out[f"{pops[int(key[1:])]}.tau_m"] = float(tau.detach())
        return out


def _group_like(a: ActuatorInfo) -> Any:
    from spikeforge.engine.layout import OrganGroup

    return OrganGroup(0, a.name, a.kind, a.channels, a.width, a.per_chan, a.start, 0, 1, 0, 0, a.low, a.high)


def _tau_m_columns(model: Any, tau_value: float, tau: torch.Tensor, dt_ms: float) -> dict[str, torch.Tensor]:
    """Columns of a LIF row that depend on ``tau_m``: forward values exactly as
    ``params.param_row`` computes them for ``tau_value``, gradient d/d tau_m (float64)."""
    import dataclasses

    exact, _ = P.param_row(dataclasses.replace(model, tau_m=tau_value), dt_ms)

    def ste(col: int, smooth: torch.Tensor) -> torch.Tensor:
        return torch.tensor(float(exact[col]), dtype=torch.float64) + (smooth - smooth.detach())

    pvv = torch.exp(-dt_ms / tau)

    def coupling(tau_x: float) -> torch.Tensor:
        if abs(tau_x - tau_value) <= 1e-9 * tau_value:
            return (dt_ms / tau) * torch.exp(-dt_ms / tau)
        return tau_x / (tau_x - tau) * (math.exp(-dt_ms / tau_x) - torch.exp(-dt_ms / tau))

    cols = {"pvv": ste(P.F_PVV, pvv), "pvd": ste(P.F_PVD, 1.0 - pvv),
            "pve": ste(P.F_PVE, coupling(model.tau_e)), "pvi": ste(P.F_PVI, coupling(model.tau_i))}
    if isinstance(model, AdaptiveLIF):
        cols["pvw"] = ste(P.F_PVW, coupling(model.tau_w))
    return cols
