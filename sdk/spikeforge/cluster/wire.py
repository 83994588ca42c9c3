"""The bytes one cluster frame travels as: one request to each shard, one reply back.

Ray serialises a ``bytes`` argument or return value as a single buffer (no pickling of each
numpy array with its out-of-band buffers, no per-argument msgpack/pickle round), which measured
as the cheapest payload per actor call (see docs/performance.md, "Cluster"). So a frame is
packed here into one request (fixed header, the shard's sensor values, its per-brain flags) and
one reply (fixed header, actuator outputs, brain step counters, spikes); the receiving side
reads numpy views straight out of the bytes (no copy).

Spikes are sent compactly: a shard's spikes as keys ``step_in_frame * n_neurons + neuron``
(increasing within a step) delta-coded as uint16 when every gap fits (2 bytes a spike, the
usual case for a crowd), else as int32 neurons plus an int32 count per step.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MODES = ("advance", "step")
"""Frame modes by their code in the request header."""

# mode, checkpoint, arg, clock accumulator (s), clock frames, sensors, brains, frame serial
_REQ = struct.Struct("<BB6xddqqqq")
_REP = struct.Struct("<qdqqqqq")    # steps, sim_s, act values, brains, spikes, spike encoding, key stride

SPIKES_INT32 = 0
"""Spike encoding: int32 count per step, then int32 shard neuron per spike."""
SPIKES_DELTA16 = 1
"""Spike encoding: uint16 gaps between consecutive keys ``step * n_neurons + neuron``."""


@dataclass(frozen=True)
class FrameRequest:
    """A decoded frame request (views into the request bytes).

    Attributes
    ----------
    mode : str
        ``"advance"`` or ``"step"``.
    arg : float
        Frame time (s) for ``"advance"``, number of steps for ``"step"``.
    clock : tuple of (float, int)
        The coordinator's clock (accumulator s, frames) before this frame.
    checkpoint : bool
        Also return a snapshot after the frame.
    sensors : float32 array
        The shard's whole ``sensor_values`` buffer.
    flags : int32 array, shape (3, brains)
        Rows: sleeping (0/1), lod_every, learn (0/1) per shard brain.
    seq : int
        The coordinator's frame serial (a shard remembers its last frame's reply under it, so
        that a frame whose reply was lost with a broken compiled graph is not run twice).
    """

    mode: str
    arg: float
    clock: tuple[float, int]
    checkpoint: bool
    sensors: npt.NDArray[np.float32]
    flags: npt.NDArray[np.int32]
    seq: int = 0


def request_size(n_sensors: int, n_brains: int) -> int:
    """Bytes of a request with ``n_sensors`` sensor values and ``n_brains`` brains."""
    return _REQ.size + 4 * n_sensors + 12 * n_brains


def pack_request(buf: bytearray, mode: str, arg: float, clock: tuple[float, int], checkpoint: bool,
                 n_sensors: int, n_brains: int, seq: int = 0
                 ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]:
    """Write a request's header into ``buf`` (of :func:`request_size` bytes) and return writable
    views of its sensor values and (3, brains) flags for the caller to fill in place (``seq``:
    the coordinator's frame serial, see :class:`FrameRequest`)."""
    _REQ.pack_into(buf, 0, MODES.index(mode), int(bool(checkpoint)), float(arg), float(clock[0]), int(clock[1]),
                   n_sensors, n_brains, int(seq))
    sens = np.frombuffer(buf, np.float32, n_sensors, _REQ.size)
    flags = np.frombuffer(buf, np.int32, 3 * n_brains, _REQ.size + 4 * n_sensors).reshape(3, n_brains)
    return sens, flags


def unpack_request(data: bytes) -> FrameRequest:
    """Decode a request made by :func:`pack_request` (read-only views into ``data``)."""
    mode, ckpt, arg, acc, frames, ns, nb, seq = _REQ.unpack_from(data, 0)
    if len(data) != request_size(ns, nb):
        raise ValueError(f"frame request: {len(data)} bytes, header says {request_size(ns, nb)}")
    sens = np.frombuffer(data, np.float32, ns, _REQ.size)
    flags = np.frombuffer(data, np.int32, 3 * nb, _REQ.size + 4 * ns).reshape(3, nb)
    return FrameRequest(MODES[mode], arg, (acc, frames), bool(ckpt), sens, flags, int(seq))


def pack_reply(steps: int, sim_s: float, act_out: npt.NDArray[np.float32], brain_step: npt.NDArray[np.int64],
               spike_steps: npt.NDArray[np.int64], spike_neurons: npt.NDArray[np.int32], n_neurons: int) -> bytes:
    """One frame's reply.

    Parameters
    ----------
    steps : int
        Steps the shard ran.
    sim_s : float
        Seconds the shard spent inside its World (s).
    act_out, brain_step : arrays
        The shard's actuator outputs (float32) and brain step counters (int64).
    spike_steps : int64 array
        Step of each spike relative to the frame's first step (0 .. steps-1), non-decreasing.
    spike_neurons : int32 array
        Shard layout neuron of each spike.
    n_neurons : int
        Neurons of the shard's layout (the key stride).
    """
    act = np.ascontiguousarray(act_out, np.float32)
    bst = np.ascontiguousarray(brain_step, np.int64)
    n = int(spike_neurons.size)
    enc = SPIKES_INT32
    spikes: list[bytes] = []
    if n:
        keys = spike_steps.astype(np.int64) * max(int(n_neurons), 1) + spike_neurons
        gaps = np.diff(keys, prepend=0)
        if int(gaps.min()) >= 0 and int(gaps.max()) <= 0xFFFF:
            enc = SPIKES_DELTA16
            spikes = [gaps.astype(np.uint16).tobytes()]
    if enc == SPIKES_INT32:
        counts = np.bincount(spike_steps.astype(np.int64), minlength=steps).astype(np.int32) if n else \
            np.zeros(steps, np.int32)
        spikes = [counts.tobytes(), np.ascontiguousarray(spike_neurons, np.int32).tobytes()]
    head = _REP.pack(int(steps), float(sim_s), act.size, bst.size, n, enc, max(int(n_neurons), 1))
    return b"".join([head, act.tobytes(), bst.tobytes(),
                     *spikes])


@dataclass(frozen=True)
class FrameReply:
    """A decoded frame reply (views into the reply bytes).

    Attributes
    ----------
    steps : int
        Steps the shard ran.
    sim_s : float
        Seconds the shard spent inside its World (s).
    act_out : float32 array
        The shard's actuator outputs.
    brain_step : int64 array
        The shard's brain step counters.
    n_spikes : int
        Spikes of the frame on this shard.
    encoding : int
        :data:`SPIKES_INT32` or :data:`SPIKES_DELTA16`.
    spikes : array
        Encoded spikes (uint16 gaps, or int32 neurons).
    counts : int32 array
        Spikes per step (only with :data:`SPIKES_INT32`; empty otherwise).
    stride : int
        Neurons of the shard's layout when it ran the frame (the key stride).
    """

    steps: int
    sim_s: float
    act_out: npt.NDArray[np.float32]
    brain_step: npt.NDArray[np.int64]
    n_spikes: int
    encoding: int
    spikes: npt.NDArray[np.generic]
    counts: npt.NDArray[np.int32]
    stride: int

    def spike_keys(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(step in frame, shard neuron) of every spike, both int64, in the shard's order."""
        if self.encoding == SPIKES_DELTA16:
            keys = np.cumsum(self.spikes, dtype=np.int64)
            return keys // self.stride, keys % self.stride
        st = np.repeat(np.arange(self.steps, dtype=np.int64), self.counts.astype(np.int64))
        return st, self.spikes.astype(np.int64)


def unpack_reply(data: bytes) -> FrameReply:
    """Decode a reply made by :func:`pack_reply`."""
    steps, sim, na, nb, n, enc, stride = _REP.unpack_from(data, 0)
    off = _REP.size
    act = np.frombuffer(data, np.float32, na, off)
    off += 4 * na
    bst = np.frombuffer(data, np.int64, nb, off)
    off += 8 * nb
    if enc == SPIKES_DELTA16:
        spikes: npt.NDArray[np.generic] = np.frombuffer(data, np.uint16, n, off)
        counts = np.zeros(0, np.int32)
        off += 2 * n
    elif enc == SPIKES_INT32:
        counts = np.frombuffer(data, np.int32, steps, off)
        off += 4 * steps
        spikes = np.frombuffer(data, np.int32, n, off)
        off += 4 * n
    else:
        raise ValueError(f"frame reply: unknown spike encoding {enc}")
    if off != len(data):
        raise ValueError(f"frame reply: {len(data)} bytes, header says {off}")
    return FrameReply(int(steps), float(sim), act, bst, int(n), int(enc), spikes, counts, int(stride))
