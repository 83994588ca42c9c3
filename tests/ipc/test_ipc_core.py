"""ServerCore in process: per-client learning switch and reward touch only that client's brains."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from spikeforge.ipc import protocol as P
from spikeforge.ipc.protocol import Err, Msg, ProtocolError
from spikeforge.ipc.server import ServerCore, Session
from spikeforge.ipc.testing import probe_circuit
from spikeforge.runtime.world import World


class FakeConn:
    def __init__(self) -> None:
        self.dropped: list[Err] = []

    def drop(self, code: Err, message: str) -> None:
        self.dropped.append(code)


def open_session(core: ServerCore, name: str) -> Session:
    s, welcome = core.hello(P.Hello(name, "tok").encode(), FakeConn())
    assert P.Welcome.decode(welcome).session_id == s.id
    return s


def test_learning_and_reward_only_touch_own_brains() -> None:
    world = World(dt=0.001, backend="numpy", seed=1)
    core = ServerCore(world, "tok", {"probe": probe_circuit()})
    a, b = open_session(core, "a"), open_session(core, "b")
    core.handle(a, Msg.SPAWN, 1, P.Spawn("probe", 2).encode())
    core.handle(b, Msg.SPAWN, 1, P.Spawn("probe", 3).encode())
    assert core.learning_mode() == "per-brain"
    core.handle(b, Msg.SET_LEARNING, 2, bytes([0]))
    frozen = {br.id: br.frozen for br in world.brains}
    assert frozen == {0: False, 1: False, 2: True, 3: True, 4: True}
    before = world.layout.dopamine.copy()
    core.handle(a, Msg.REWARD, 3, P.Reward(np.array([1], np.uint32), np.array([0.75], np.float32)).encode())
    delta = world.layout.dopamine - before
    idx = {int(s): i for i, s in enumerate(world.layout.brain_serial)}
    assert delta[idx[1]] == pytest.approx(0.75) and np.count_nonzero(delta) == 1
    with pytest.raises(ProtocolError) as ei:
        core.handle(a, Msg.REWARD, 4, P.Reward(np.array([3], np.uint32), np.array([1.0], np.float32)).encode())
    assert ei.value.code == Err.NOT_OWNER


def test_plan_masks_other_brains_and_indices_point_at_own_rows() -> None:
    world = World(dt=0.001, backend="numpy", seed=1)
    core = ServerCore(world, "tok", {"probe": probe_circuit(), "p2": probe_circuit("p2", sensors=3, actuators=1)})
    a, b = open_session(core, "a"), open_session(core, "b")
    core.handle(b, Msg.SPAWN, 1, P.Spawn("probe", 1).encode())
    core.handle(a, Msg.SPAWN, 1, P.Spawn("p2", 2).encode())
    core.handle(a, Msg.SPAWN, 2, P.Spawn("probe", 1).encode())
    plan = core.plan(a)
    assert [g[0] for g in plan.info.groups] == ["p2", "probe"]
    assert plan.info.sensor_floats == 2 * 3 + 4 and plan.info.actuator_floats == 2 * 1 + 2
    assert plan.mask is not None and int(plan.mask.sum()) == 3
    # writing through the plan lands in the world's organ views of exactly a's brains
    world.layout.sensor_values[plan.sens_idx] = np.arange(1, 11, dtype=np.float32)
    assert world.group("p2").sensor("input").tolist() == [[1, 2, 3], [4, 5, 6]]
    assert world.brain(3).sensor("input").tolist() == [7, 8, 9, 10]  # a's probe brain (id 3)
    assert world.brain(0).sensor("input").tolist() == [0, 0, 0, 0]  # b's brain untouched


def test_server_times_out_silent_and_half_frame_connections() -> None:
    """A connection that never says HELLO, and one that stops mid-frame, are closed with TIMEOUT."""
    import asyncio

    from spikeforge.ipc.server import Server

    async def scenario() -> list[tuple[int, bool]]:
        core = ServerCore(World(dt=0.001, backend="numpy"), "tok", {"probe": probe_circuit()}, grace_seconds=5)
        server = Server(core, port=0, hello_timeout=0.3, frame_timeout=0.3)
        await server.start()
        assert server.port
        results = []
        silent_r, silent_w = await asyncio.open_connection("127.0.0.1", server.port)
        half_r, half_w = await asyncio.open_connection("127.0.0.1", server.port)
        half_w.write(P.frame(Msg.HELLO, 1, P.Hello("h", "tok").encode()))
        half_w.write(P.frame(Msg.PING, 2, b"abcdef")[:9])  # stops in the middle of a frame
        await half_w.drain()
        for reader in (silent_r, half_r):
            data = await asyncio.wait_for(reader.read(), timeout=10)  # read to EOF: the server closed
            frames = P.FrameDecoder().feed(data)
            err = frames[-1]
            assert err.msg == Msg.ERROR and err.seq == 0
            e = P.decode_error(err.payload, 0)
            results.append((e.code, e.fatal))
        assert len(core.sessions) == 1  # the half-frame client's session waits out its grace period
        server.stop()
        silent_w.close()
        half_w.close()
        return results

    assert asyncio.run(scenario()) == [(Err.TIMEOUT, True), (Err.TIMEOUT, True)]


def test_spawn_limits_on_neurons_and_synapses() -> None:
    from spikeforge.model.circuit import Circuit
    from spikeforge.model.neurons import LIF
    from spikeforge.model.synapses import AllToAll

    dense = Circuit("dense").add_population("a", 2000, LIF()).connect("a", "a", rule=AllToAll())
    world = World(dt=0.001, backend="numpy")
    core = ServerCore(world, "tok", {"dense": dense, "probe": probe_circuit()}, max_world_neurons=100_000,
                      max_world_synapses=10_000_000)
    s = open_session(core, "a")
    with pytest.raises(ProtocolError, match="synapses") as ei:
        core.handle(s, Msg.SPAWN, 1, P.Spawn("dense", 3).encode())  # 3 x 4M synapses
    assert ei.value.code == Err.LIMIT
    with pytest.raises(ProtocolError, match="neurons") as ei:
        core.handle(s, Msg.SPAWN, 2, P.Spawn("probe", 5001).encode())  # 5001 x 20 neurons
    assert ei.value.code == Err.LIMIT
    assert world.stats()["brains"] == 0  # layout.n_brains counts slots, freed ones too


def test_upload_of_an_oversized_genome_is_refused_and_not_registered() -> None:
    from spikeforge.model.circuit import Circuit
    from spikeforge.model.genome import dumps
    from spikeforge.model.neurons import LIF

    huge = Circuit("huge").add_population("a", 3000, LIF())
    core = ServerCore(World(dt=0.001, backend="numpy"), "tok", {}, max_world_neurons=2000)
    s = open_session(core, "a")
    payload = bytes(P.Writer().str32(dumps(huge)).buf)
    with pytest.raises(ProtocolError) as ei:
        core.handle(s, Msg.UPLOAD_GENOME, 1, payload)
    assert ei.value.code == Err.LIMIT
    assert "huge" not in core.genomes
    reply = core.handle(s, Msg.LIST_CIRCUITS, 2, b"")
    assert isinstance(reply, bytes) and P.decode_circuits(reply[P.HEADER_SIZE:]) == []


def test_spike_batches_are_truncated_to_fit_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    from spikeforge.model.circuit import Circuit
    from spikeforge.model.neurons import LIF

    # neurons that fire every few steps under a strong bias
    loud = Circuit("loud").add_population("n", 50, LIF(bias=40.0, t_ref=0.0))
    loud.add_sensor("s", "n", 1, kind="current").add_actuator("a", "n", 1, kind="rate", high=1000.0)
    core = ServerCore(World(dt=0.001, backend="numpy"), "tok", {"loud": loud})
    s = open_session(core, "a")
    core.handle(s, Msg.SPAWN, 1, P.Spawn("loud", 2).encode())
    core.handle(s, Msg.SUBSCRIBE, 2, P.Subscribe("", np.zeros(0, np.uint32)).encode())
    core.handle(s, Msg.SUBSCRIBE, 3, P.Subscribe("n", np.zeros(0, np.uint32)).encode())
    ex = P.Exchange(s.epoch, 0.02, 0, np.zeros(2, np.float32)).encode()
    full = P.ExchangeResult.decode(b"".join(core.handle(s, Msg.EXCHANGE, 4, ex))[P.HEADER_SIZE:])
    n_spikes = len(full.batches[0])
    assert n_spikes > 100 and not full.batches[0].truncated
    # shrink the frame limit so only 40 spikes fit: the first subscription is cut, the second gets none
    fixed = P.MIN_LENGTH + 24 + 4 * 2 + 2 + 9 * 2
    monkeypatch.setattr(P, "MAX_FRAME_BYTES", fixed + 16 * 40)
    res = P.ExchangeResult.decode(b"".join(core.handle(s, Msg.EXCHANGE, 5, ex))[P.HEADER_SIZE:])
    assert [len(b) for b in res.batches] == [40, 0]
    assert res.batches[0].truncated and res.batches[1].truncated
    assert res.steps == 20


def test_brains_by_circuit_counts_live_ids_only() -> None:
    """One lookup for a session's (live) brains; ids no longer alive are left out."""
    world = World(dt=0.001, backend="numpy", seed=1)
    core = ServerCore(world, "tok", {"probe": probe_circuit(), "p2": probe_circuit("p2", sensors=3, actuators=1)})
    a = open_session(core, "a")
    core.handle(a, Msg.SPAWN, 1, P.Spawn("probe", 300).encode())
    core.handle(a, Msg.SPAWN, 2, P.Spawn("p2", 2).encode())
    assert core.quota.brains_by_circuit(core, a.owned) == {"probe": 300, "p2": 2}
    world.despawn([5, 301])
    assert core.quota.brains_by_circuit(core, [*sorted(a.owned), 99999]) == {"probe": 299, "p2": 1}


def test_get_subscriptions_lists_the_sessions_subscriptions_in_subscribe_order() -> None:
    """GET_SUBSCRIPTIONS (1.2): what a resumed client reconciles against (PROTOCOL.md section 6)."""
    core = ServerCore(World(dt=0.001, backend="numpy", seed=1), "tok", {"probe": probe_circuit()})
    a, b = open_session(core, "a"), open_session(core, "b")
    core.handle(a, Msg.SPAWN, 1, P.Spawn("probe", 3).encode())
    core.handle(b, Msg.SUBSCRIBE, 1, P.Subscribe("", np.zeros(0, np.uint32)).encode())
    core.handle(a, Msg.SUBSCRIBE, 2, P.Subscribe("", np.zeros(0, np.uint32)).encode())
    core.handle(a, Msg.SUBSCRIBE, 3, P.Subscribe("hidden", np.array([2, 0], np.uint32)).encode())
    core.handle(a, Msg.SUBSCRIBE, 4, P.Subscribe("out", np.array([1], np.uint32)).encode())
    core.handle(a, Msg.UNSUBSCRIBE, 5, struct.pack("<I", 1))

    def listed(s: Session) -> list[P.SubscriptionInfo]:
        reply = core.handle(s, Msg.GET_SUBSCRIPTIONS, 9, b"")
        assert isinstance(reply, bytes) and P.HEADER.unpack_from(reply)[1:] == (Msg.SUBSCRIPTIONS, 0, 9)
        return P.decode_subscriptions(reply[P.HEADER_SIZE:])

    assert listed(a) == [P.SubscriptionInfo(2, "hidden", (0, 2)), P.SubscriptionInfo(3, "out", (1,))]
    assert listed(b) == [P.SubscriptionInfo(1, "", ())]
    with pytest.raises(ProtocolError) as ei:
        core.handle(a, Msg.GET_SUBSCRIPTIONS, 10, b"\x00")
    assert ei.value.code == Err.MALFORMED
    with pytest.raises(ProtocolError) as ei:  # a reply that claims more than a session can hold
        P.decode_subscriptions(struct.pack("<H", P.MAX_SUBSCRIPTIONS + 1))
    assert ei.value.code == Err.TOO_LARGE
    with pytest.raises(ProtocolError) as ei:
        P.decode_subscriptions(P.encode_subscriptions([P.SubscriptionInfo(7, "x", (1, 2))])[:-1])
    assert ei.value.code == Err.MALFORMED
