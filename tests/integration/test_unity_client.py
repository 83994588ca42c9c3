"""Unity adapter, client core: the package's C# compiled with Mono's ``mcs`` and run with
``mono`` against a real ``spikeforge serve`` subprocess (TCP and shared memory) and
in-process through pythonnet (CPython embedded in the C# program, as in Unity).

Every mode runs the same scenario (100 brains, 1,000 frames; ``Tests/Mono/Scenario.cs``)
and its actuator record must be bit-equal, and its spike batches identical, to the Python
reference client's on a fresh server with the same seed. The C# programs also check resume after dropped connections,
rewards, snapshots, subscriptions and error reporting; their failures are reported here.
A scripted fake server checks the bytes against PROTOCOL.md's hex examples.

Without Mono these tests skip locally and FAIL under CI=true.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikeforge.bench.unity import (
    REPO_ROOT,
    Toolchain,
    ToolchainError,
    build_program,
    find_toolchain,
    mono_sources,
    python_home_ok,
)
from spikeforge.ipc import protocol as P
from spikeforge.ipc.client import Client
from spikeforge.ipc.protocol import Msg
from spikeforge.ipc.testing import ReplyDropper, running_server
from spikeforge.runtime.brain_asset import read_brain
from spikeforge.runtime.world import World

pytestmark = pytest.mark.mono

GENOME = REPO_ROOT / "samples" / "genomes" / "wanderer.json"
SEED = 7
BRAINS = 100
FRAMES = 1000
FRAME_DT = 0.004  # 4 steps of 1 ms per frame
BACKEND = "native"  # bit-exact with numpy (tested by the native backend's tests), faster


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    try:
        return find_toolchain()
    except ToolchainError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Unity client tests need Mono in CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def programs(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("unity-build")
    return {
        "client": build_program(mono_sources("ClientTest.cs"), out / "client" / "ClientTest.exe",
                                toolchain=toolchain),
        "inprocess": build_program(mono_sources("InProcessTest.cs"), out / "inprocess" / "InProcessTest.exe",
                                   inprocess=True, toolchain=toolchain),
        "resume": build_program(mono_sources("ResumeTest.cs"), out / "resume" / "ResumeTest.exe", toolchain=toolchain),
        "wire": build_program(mono_sources("WireTest.cs"), out / "wire" / "WireTest.exe", toolchain=toolchain),
        "scripted": build_program(mono_sources("ScriptedSessionTest.cs"), out / "scripted" / "ScriptedSessionTest.exe",
                                  inprocess=True, toolchain=toolchain, defines=["SPIKEFORGE_PYTHONNET"]),
    }


def sensor_value(frame: int, brain: int, channel: int, low: float, high: float) -> np.float32:
    """The scenario's sensor formula (same as ``Scenario.SensorValue`` in C#)."""
    k = (7 * frame + 13 * brain + 5 * channel) % 17
    return np.float32(low + (float(high) - low) * k / 16.0)


def reference_record(port: int, token_path: Path, frames: int) -> tuple[bytes, bytes]:
    """The scenario run by the Python reference client: the expected actuator record and
    spike record (per exchange: i32 count, then per spike i64 step, i64 brain, i32 neuron)."""
    genome = GENOME.read_text(encoding="utf-8")
    out: list[np.ndarray] = []
    spikes: list[bytes] = []
    spike_dtype = np.dtype([("step", "<i8"), ("brain", "<i8"), ("neuron", "<i4")])
    with Client.connect("127.0.0.1", port, token_file=token_path, name="reference") as c:
        info = c.upload_genome(genome)
        ids = c.spawn(info.name, BRAINS)
        assert len(ids) == BRAINS
        c.subscribe("")
        (name, group_ids), = c.layout.groups
        rows = {bid: r for r, bid in enumerate(group_ids)}
        order = [rows[b] for b in sorted(group_ids)]
        gid = np.asarray(group_ids, dtype=np.int64)
        for f in range(frames):
            base = 0
            for spec in info.sensors:
                view = c.sensor(name, spec.name)
                ch = base + np.arange(spec.size)
                k = (7 * f + 13 * gid[:, None] + 5 * ch[None, :]) % 17
                view[...] = (spec.low + (float(spec.high) - spec.low) * k / 16.0).astype(np.float32)
                base += spec.size
            res = c.exchange(FRAME_DT)
            per = [c.actuator(name, a.name)[order] for a in info.actuators]
            out.append(np.concatenate(per, axis=1).astype("<f4").reshape(-1))
            (batch,) = res.batches
            rec = np.zeros(len(batch), spike_dtype)
            rec["step"], rec["brain"], rec["neuron"] = batch.steps, batch.brains, batch.neurons
            spikes.append(np.int32(len(batch)).tobytes() + rec.tobytes())
    return b"".join(a.tobytes() for a in out), b"".join(spikes)


def test_sensor_formula_matches_vectorised_reference() -> None:
    # the vectorised fill above is the scalar formula the C# side uses
    f, b, c = 5, 42, 2
    k = (7 * f + 13 * np.array([[b]]) + 5 * np.array([c])) % 17
    assert np.float32((-1.0 + 2.0 * k / 16.0).item()) == sensor_value(f, b, c, -1.0, 1.0)


def run_mono(toolchain: Toolchain, exe: Path, args: list[str], timeout: float = 240.0) -> str:
    res = subprocess.run([toolchain.mono, str(exe), *args], capture_output=True, text=True, timeout=timeout,
                         check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"{exe.name} failed:\n{out[-6000:]}"
    assert "Native Crash Reporting" not in out, f"{exe.name} crashed at exit:\n{out[-6000:]}"
    assert " passed, 0 failed" in out
    return out


def test_csharp_client_speaks_the_documented_hex_examples(toolchain: Toolchain, programs: dict[str, Path]) -> None:
    # PROTOCOL.md section 10: HELLO/EXCHANGE bytes sent, WELCOME/EXCHANGE_RESULT/ERROR decoded
    out = run_mono(toolchain, programs["wire"], ["--protocol", str(REPO_ROOT / "integrations" / "PROTOCOL.md")])
    assert "wire: " in out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    tmp = tmp_path_factory.mktemp("unity-reference")
    with running_server(tmp, backend=BACKEND, seed=SEED) as srv:
        return reference_record(srv.port, srv.token_path, FRAMES)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["tcp", "shm"])
def test_csharp_protocol_client_matches_python_reference(mode: str, toolchain: Toolchain, programs: dict[str, Path],
                                                         reference: tuple[bytes, bytes], tmp_path: Path) -> None:
    record = tmp_path / f"{mode}.bin"
    with running_server(tmp_path / "srv", backend=BACKEND, seed=SEED) as srv:
        out = run_mono(toolchain, programs["client"], [
            "--port", str(srv.port), "--token-file", str(srv.token_path), "--genome", str(GENOME),
            "--mode", mode, "--out", str(record), "--frames", str(FRAMES), "--brains", str(BRAINS),
            "--frame-dt", repr(FRAME_DT)])
        log = srv.stderr
    assert "resumed" in log, "the server saw the C# client resume its session"
    actuators, spikes = reference
    got = record.read_bytes()
    assert len(got) == len(actuators), out
    assert got == actuators, "C# actuator outputs differ from the Python reference client's"
    assert Path(f"{record}.spikes").read_bytes() == spikes, "C# spike batches differ from the reference client's"
    assert f"{mode}: " in out
    # brains as assets (EXPORT_BRAIN / SPAWN_ASSET from C#): the exported bytes are a brain file
    # Python reads and spawns, and the brain C# spawned from them exports the same arrays
    manifest, arrays = read_brain(Path(f"{record}.sfbrain"))
    clone_manifest, clone_arrays = read_brain(Path(f"{record}.clone.sfbrain"))
    assert manifest["state"] and manifest["prototype"] == clone_manifest["prototype"]
    assert manifest["brain"] == clone_manifest["brain"] and manifest["source_id"] != clone_manifest["source_id"]
    assert arrays.keys() == clone_arrays.keys()
    for name, a in arrays.items():
        assert a.tobytes() == clone_arrays[name].tobytes(), name
    assert World(backend="numpy").spawn_from(Path(f"{record}.sfbrain")).prototype == manifest["prototype"]


@pytest.mark.slow
def test_csharp_inprocess_pythonnet_matches_python_reference(toolchain: Toolchain, programs: dict[str, Path],
                                                             reference: tuple[bytes, bytes], tmp_path: Path) -> None:
    if not python_home_ok():
        pytest.fail("this Python has no shared libpython; the in-process mode needs one")
    record = tmp_path / "inprocess.bin"
    run_mono(toolchain, programs["inprocess"], [
        "--python", sys.executable, "--genome", str(GENOME), "--out", str(record),
        "--frames", str(FRAMES), "--brains", str(BRAINS), "--frame-dt", repr(FRAME_DT), "--seed", str(SEED),
        "--backend", BACKEND])
    actuators, spikes = reference
    got = record.read_bytes()
    assert len(got) == len(actuators)
    assert got == actuators, "in-process (pythonnet) actuator outputs differ from the protocol reference"
    # in-process spike batches use the protocol's conventions (brain-own step counter, brain id)
    assert Path(f"{record}.spikes").read_bytes() == spikes, "in-process spike batches differ from the protocol's"


def split_frames(data: bytes) -> list[bytes]:
    """A reply recording (``ProtocolSettings.ReplyLog``) as whole frames, with the two fields
    that cannot match blanked: WELCOME's random ``resume_token`` and EXCHANGE_RESULT's
    wall-time ``sim_us`` (see tests/ipc/test_ipc_inprocess.py)."""
    out = []
    pos = 0
    while pos < len(data):
        length, msg, _, _ = P.HEADER.unpack_from(data, pos)
        f = bytearray(data[pos:pos + 4 + length])
        pos += 4 + length
        if msg == P.Msg.WELCOME:
            off = 12 + 2 + 2 + 4
            (n,) = struct.unpack_from("<H", f, off)
            f[off + 2:off + 2 + n] = b"x" * n
        elif msg == P.Msg.EXCHANGE_RESULT:
            f[12 + 16:12 + 20] = b"\0\0\0\0"
        out.append(bytes(f))
    return out


@pytest.mark.slow
def test_csharp_inprocess_and_tcp_get_the_same_reply_bytes(toolchain: Toolchain, programs: dict[str, Path],
                                                           tmp_path: Path) -> None:
    """The same scripted session through the C# TCP session and the C# in-process session
    (pythonnet, spikeforge.ipc.InProcessServer): every reply frame equal, byte for byte."""
    if not python_home_ok():
        pytest.fail("this Python has no shared libpython; the in-process mode needs one")
    tcp, inproc = tmp_path / "tcp.bin", tmp_path / "inprocess" / "inprocess.bin"
    inproc.parent.mkdir()
    # --idle-timeout 0: the in-process core's (it has none), so WELCOME's idle_timeout_s is compared too
    with running_server(tmp_path / "srv", backend=BACKEND, seed=SEED, args=["--idle-timeout", "0"]) as srv:
        run_mono(toolchain, programs["scripted"], ["--mode", "tcp", "--port", str(srv.port), "--token-file",
                                                   str(srv.token_path), "--genome", str(GENOME), "--out", str(tcp)])
    # the same circuits known from the start (the test server's --genome folder)
    run_mono(toolchain, programs["scripted"], ["--mode", "inprocess", "--python", sys.executable, "--seed", str(SEED),
                                               "--backend", BACKEND, "--genome-dir", str(srv.genome_dir),
                                               "--genome", str(GENOME), "--out", str(inproc)])
    a, b = split_frames(tcp.read_bytes()), split_frames(inproc.read_bytes())
    kinds = [P.HEADER.unpack_from(f)[1] for f in a]
    assert kinds.count(P.Msg.EXCHANGE_RESULT) == 90 and P.Msg.ERROR in kinds and P.Msg.LAYOUT in kinds
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == y, f"reply {i} (0x{P.HEADER.unpack_from(x)[1]:04X}) differs between TCP and in-process"
    spikes = sum(len(bt.steps) for f in a if P.HEADER.unpack_from(f)[1] == P.Msg.EXCHANGE_RESULT
                 for bt in P.ExchangeResult.decode(f[12:]).batches)
    assert spikes > 100


def test_csharp_client_reconciles_a_spawn_whose_reply_was_lost(toolchain: Toolchain, programs: dict[str, Path],
                                                               tmp_path: Path) -> None:
    """The server wrote the second SPAWNED reply, the C# client never got it (ReplyDropper
    swallows it and closes: a reply written into a dead connection, which the server cannot
    undo). ProtocolSession resumes, despawns the brains the session holds that it does not know,
    sends the SPAWN again and returns its ids (was: SpikeforgeException "in_flight", and the
    session kept the lost spawn's 5 brains beside the ones spawned again)."""
    with running_server(tmp_path / "srv", args=["--grace-seconds", "60"]) as srv, \
            ReplyDropper(srv.host, srv.port) as proxy:
        proxy.drop_next(Msg.SPAWNED, skip=1)
        out = run_mono(toolchain, programs["resume"], ["--port", str(proxy.port), "--token-file", str(srv.token_path),
                                                       "--circuit", "probe"])
        log = srv.stderr
    assert [m for m, _ in proxy.dropped] == [Msg.SPAWNED], proxy.dropped
    stats = json.loads(next(line for line in out.splitlines() if line.startswith("RESUME_STATS "))[13:])
    assert stats["world"]["brains"] == 3 + 5, stats
    assert "resumed" in log and "Traceback" not in log, log[-4000:]


def test_csharp_client_reconciles_a_subscribe_whose_reply_was_lost(toolchain: Toolchain, programs: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    """The server wrote the second SUBSCRIBED reply, the C# client never got it (ReplyDropper
    swallows it and closes). ProtocolSession resumes, lists the session's subscriptions
    (GET_SUBSCRIPTIONS, protocol 1.2), unsubscribes the one it does not know, sends the SUBSCRIBE
    again and returns its id; the next EXCHANGE_RESULT carries exactly its batches (was:
    SpikeforgeException "in_flight", and every exchange then failed with MALFORMED n_batches)."""
    with running_server(tmp_path / "srv", args=["--grace-seconds", "60"]) as srv, \
            ReplyDropper(srv.host, srv.port) as proxy:
        proxy.drop_next(Msg.SUBSCRIBED, skip=1)
        out = run_mono(toolchain, programs["resume"], ["--port", str(proxy.port), "--token-file", str(srv.token_path),
                                                       "--circuit", "probe", "--scenario", "subscribe"])
        log = srv.stderr
    assert [m for m, _ in proxy.dropped] == [Msg.SUBSCRIBED], proxy.dropped
    stats = json.loads(next(line for line in out.splitlines() if line.startswith("RESUME_STATS "))[13:])
    assert stats["session"]["subscriptions"] == 1 and stats["world"]["brains"] == 3, stats
    assert "resumed" in log and "Traceback" not in log, log[-4000:]
