"""Checks of the Godot 4 addon that need no engine (real Godot 4 runs it in
test_godot4_e2e.py): every script parses and lints with gdtoolkit, the exports are
documented, the encoder is the same code as the Godot 3 encoder that does run, and the exact frames the
encoder builds (recorded in ``integrations/godot/addons/spikeforge/tests/frames``) match
PROTOCOL.md, decode with the Python reference codec, and drive a real server to the same
results as the Python reference client.
"""

from __future__ import annotations

import re
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.integration.godot_support.frames import (
    load_cases,
    recorded_frames,
    run_godot3_codec,
)
from tests.integration.godot_support.harness import (
    FRAMES_DIR,
    GODOT3_ADDON,
    GODOT3_SAMPLE,
    GODOT4_ADDON,
    GODOT4_SAMPLE,
    REPO,
    godot3_binary,
)
from tests.integration.godot_support.scenes import check_scene

from spikeforge.ipc import protocol as P
from spikeforge.ipc.client import Client
from spikeforge.ipc.protocol import RemoteError
from spikeforge.ipc.testing import running_server

BIN = Path(sys.executable).parent
GODOT4_SCRIPTS = sorted([*GODOT4_ADDON.rglob("*.gd"),
                         *(p for p in GODOT4_SAMPLE.rglob("*.gd")
                           if "addons" not in p.relative_to(GODOT4_SAMPLE).parts)])
DOC_TOKEN = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            pytest.fail(f"{name} (gdtoolkit) is not installed; it is in the 'dev' extra")
        return found
    return str(path)


# ---------------------------------------------------------------------- gdtoolkit
def test_there_are_godot4_scripts() -> None:
    names = {p.relative_to(GODOT4_ADDON).as_posix() for p in GODOT4_ADDON.rglob("*.gd")}
    assert {"plugin.gd", "spikeforge_world.gd", "brain_agent.gd", "protocol.gd", "client.gd",
            "sensors/raycast_sensor_2d.gd", "sensors/raycast_sensor_3d.gd", "sensors/value_sensor.gd",
            "actuators/motor_actuator.gd", "actuators/action_actuator.gd", "actuators/spike_signal.gd"} <= names
    assert any(p.is_relative_to(GODOT4_SAMPLE) for p in GODOT4_SCRIPTS)


def test_every_godot4_script_parses_and_lints() -> None:
    """gdparse and gdlint over every script at once (one process each: gdtoolkit starts slowly)."""
    files = [str(p) for p in GODOT4_SCRIPTS]
    parse = subprocess.run([_tool("gdparse"), *files], capture_output=True, text=True, timeout=300)
    assert parse.returncode == 0, parse.stdout[-4000:] + parse.stderr[-4000:]
    lint = subprocess.run([_tool("gdlint"), *files], capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Success: no problems found" in lint.stdout + lint.stderr


def test_gdparse_rejects_godot3_syntax() -> None:
    """The parse check above is meaningful: gdparse refuses GDScript 1 (the Godot 3 addon)."""
    proc = subprocess.run([_tool("gdparse"), str(GODOT3_ADDON / "sensors" / "raycast_sensor_2d.gd")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0


# ---------------------------------------------------------------------- conventions
def _addon_sources() -> dict[str, str]:
    return {p.relative_to(GODOT4_ADDON).as_posix(): p.read_text(encoding="utf-8") for p in GODOT4_ADDON.rglob("*.gd")}


def test_every_export_has_a_doc_comment_and_every_node_a_class_name() -> None:
    missing = []
    for rel, text in _addon_sources().items():
        lines = text.splitlines()
        if rel != "plugin.gd":
            assert re.search(r"^class_name \w+$", text, re.M), f"{rel}: no class_name"
        for i, line in enumerate(lines):
            if line.startswith("@export"):
                if i == 0 or not lines[i - 1].startswith("##"):
                    missing.append(f"{rel}:{i + 1}: {line}")
    assert not missing, "exports without a ## doc comment:\n" + "\n".join(missing)


NODES = {
    "SpikeforgeWorld": ("Node", "spikeforge_world.gd"), "BrainAgent": ("Node", "brain_agent.gd"),
    "SpikeforgeSensor": ("Node", "sensors/spikeforge_sensor.gd"),
    "SpikeforgeSensor2D": ("Node2D", "sensors/spikeforge_sensor_2d.gd"),
    "SpikeforgeSensor3D": ("Node3D", "sensors/spikeforge_sensor_3d.gd"),
    "SpikeforgeActuator": ("Node", "actuators/spikeforge_actuator.gd"),
    "RaycastSensor2D": ("SpikeforgeSensor2D", "sensors/raycast_sensor_2d.gd"),
    "RaycastSensor3D": ("SpikeforgeSensor3D", "sensors/raycast_sensor_3d.gd"),
    "ValueSensor": ("SpikeforgeSensor", "sensors/value_sensor.gd"),
    "MotorActuator": ("SpikeforgeActuator", "actuators/motor_actuator.gd"),
    "ActionActuator": ("SpikeforgeActuator", "actuators/action_actuator.gd"),
    "SpikeSignal": ("Node", "actuators/spike_signal.gd"),
}


def test_nodes_use_class_name_and_icon_and_the_plugin_registers_no_custom_type() -> None:
    """Godot's docs: a script with class_name must not also be add_custom_type()'d (it would
    be listed twice in the Create Node dialog); icons come from @icon."""
    plugin = (GODOT4_ADDON / "plugin.gd").read_text(encoding="utf-8")
    cfg = (GODOT4_ADDON / "plugin.cfg").read_text(encoding="utf-8")
    assert 'script="plugin.gd"' in cfg
    assert not re.search(r"^\s*[^#\s].*add_custom_type\(", plugin, re.M)
    for name, (base, path) in NODES.items():
        text = (GODOT4_ADDON / path).read_text(encoding="utf-8")
        assert f"class_name {name}\n" in text, path
        assert f"extends {base}\n" in text, path
        icon = re.search(r'^@icon\("res://addons/spikeforge/([\w/]+\.svg)"\)$', text, re.M)
        assert icon, f"{path}: no @icon"
        svg = (GODOT4_ADDON / icon.group(1)).read_text(encoding="utf-8")
        assert svg.startswith("<svg ") and 'viewBox="0 0 16 16"' in svg, icon.group(1)


def test_custom_sensors_extend_the_base_classes() -> None:
    """The base classes carry organ + the methods a custom sensor/actuator overrides; the
    sample's own actuator (drive.gd) is written that way, and the README shows how."""
    for path, method in (("sensors/spikeforge_sensor.gd", "get_values"),
                         ("sensors/spikeforge_sensor_2d.gd", "get_values"),
                         ("sensors/spikeforge_sensor_3d.gd", "get_values"),
                         ("actuators/spikeforge_actuator.gd", "apply_outputs")):
        text = (GODOT4_ADDON / path).read_text(encoding="utf-8")
        assert "@export var organ: StringName" in text and f"func {method}(" in text
        assert "func channel_count() -> int:" in text
    assert (GODOT4_SAMPLE / "drive.gd").read_text(encoding="utf-8").startswith("extends SpikeforgeActuator\n")
    readme = (GODOT4_ADDON / "README.md").read_text(encoding="utf-8")
    assert "extends SpikeforgeSensor" in readme


def test_raycast_sensors_preview_in_the_editor() -> None:
    for path in ("sensors/raycast_sensor_2d.gd", "sensors/raycast_sensor_3d.gd"):
        assert (GODOT4_ADDON / path).read_text(encoding="utf-8").startswith("@tool\n"), path


@pytest.mark.parametrize("sample", [GODOT4_SAMPLE, GODOT3_SAMPLE], ids=["godot4", "godot3"])
def test_sample_scenes_match_their_scripts(sample: Path) -> None:
    scenes = sorted(sample.glob("*.tscn"))
    assert scenes
    problems = {scene.name: check_scene(sample, scene) for scene in scenes}
    assert not any(problems.values()), problems


def test_scene_check_catches_a_misspelt_property(tmp_path: Path) -> None:
    scene = tmp_path / "forager.tscn"
    text = (GODOT4_SAMPLE / "forager.tscn").read_text(encoding="utf-8")
    scene.write_text(text.replace("n_rays = 5", "n_ray = 5", 1).replace('method="_on_motor_spiked"',
                                                                         'method="_on_spiked"'), encoding="utf-8")
    problems = check_scene(GODOT4_SAMPLE, scene)
    assert any("n_ray" in p for p in problems) and any("_on_spiked" in p for p in problems), problems


# ---------------------------------------------------------------------- same encoder in Godot 3 and 4
def _encoder_section(text: str) -> str:
    """The encoding functions of a protocol.gd, normalised to compare Godot 3 and 4 spelling."""
    start = text.index("static func _writer()")
    end = text.index("# ----", start)
    body = text[start:end]
    body = re.sub(r"^\s*#.*$", "", body, flags=re.M)  # comments and ## docs
    body = body.replace("PackedByteArray", "PoolByteArray").replace("PackedFloat32Array", "PoolRealArray")
    body = body.replace("PackedInt32Array", "PoolIntArray").replace("to_utf8_buffer()", "to_utf8()")
    body = re.sub(r"(\w+)\.to_byte_array\(\)", r"floats_to_bytes(\1)", body)
    body = body.replace(":=", "=")
    body = re.sub(r"\) -> \w+:", "):", body)
    body = re.sub(r"(\w+): (?:int|float|bool|String|StreamPeerBuffer|PoolByteArray|PoolRealArray|PoolIntArray)\b",
                  r"\1", body)
    return re.sub(r"\s+", "", body)


def test_godot4_and_godot3_encoders_are_the_same_code() -> None:
    g4 = _encoder_section((GODOT4_ADDON / "protocol.gd").read_text(encoding="utf-8"))
    g3 = _encoder_section((GODOT3_ADDON / "protocol.gd").read_text(encoding="utf-8"))
    assert g4 == g3


def test_constants_are_generated_from_the_python_codec() -> None:
    # the MSG_/ERR_ tables are generated (tests/ipc/test_wire_tables.py checks they are current)
    for path in (GODOT4_ADDON / "protocol.gd", GODOT3_ADDON / "protocol.gd"):
        text = path.read_text(encoding="utf-8")
        assert "# GENERATED BEGIN wire" in text and "# GENERATED END wire" in text, path


# ---------------------------------------------------------------------- recorded frames
def _doc_example(heading: str) -> bytes:
    """The bytes of the hex example under ``heading`` in PROTOCOL.md."""
    doc = (REPO / "integrations" / "PROTOCOL.md").read_text(encoding="utf-8")
    start = doc.index(heading)
    block = doc[doc.index("```", start) + 3: doc.index("```", doc.index("```", start) + 3)]
    out = bytearray()
    for line in block.splitlines():
        for tok in line.split():
            if not re.fullmatch(r"[0-9a-f]{2}", tok):
                break
            out.append(int(tok, 16))
    return bytes(out)


def test_recorded_frames_match_the_protocol_examples() -> None:
    frames = recorded_frames()
    assert frames["hello_doc_example"] == _doc_example('HELLO from client "godot-npc"')
    assert frames["exchange_doc_example"] == _doc_example("EXCHANGE, seq 42")


def _decode_args(case: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for a in case["args"]:
        (kind, v), = a.items()
        if kind == "frac":
            out.append(v[0] / v[1])
        elif kind == "file":
            out.append((FRAMES_DIR / v).read_text(encoding="utf-8"))
        elif kind == "bytes":
            out.append(bytes.fromhex(v))
        else:
            out.append(v)
    return out


def test_recorded_frames_decode_with_the_python_codec() -> None:
    frames = recorded_frames()
    for case in load_cases():
        data = frames[case["name"]]
        length, msg, flags, seq = P.HEADER.unpack_from(data)
        assert length == len(data) - 4 and flags == 0, case["name"]
        payload = data[P.HEADER_SIZE:]
        args = _decode_args(case)
        assert seq == args[0] if case["call"] != "empty" else seq == args[1], case["name"]
        call = case["call"]
        if call == "hello":
            h = P.Hello.decode(payload)
            assert (msg, h.client_name, h.token, h.resume_token) == (P.Msg.HELLO, *args[1:])
        elif call == "empty":
            assert (msg, payload) == (args[0], b"")
        elif call == "upload_genome":
            (n,) = struct.unpack_from("<I", payload)
            assert msg == P.Msg.UPLOAD_GENOME and payload[4:].decode("utf-8") == args[1] and n == len(payload) - 4
        elif call == "spawn":
            s = P.Spawn.decode(payload)
            assert (msg, s.circuit, s.count) == (P.Msg.SPAWN, args[1], args[2])
        elif call in ("despawn", "claim"):
            assert msg == (P.Msg.DESPAWN if call == "despawn" else P.Msg.CLAIM)
            assert P.decode_ids(payload, call).tolist() == args[1]
        elif call == "exchange":
            e = P.Exchange.decode(payload)
            assert msg == P.Msg.EXCHANGE and (e.epoch, e.frame_dt, e.flags) == (args[1], args[2], 0)
            assert e.sensors.tolist() == np.asarray(args[3], np.float32).tolist()
        elif call == "reward":
            r = P.Reward.decode(payload)
            assert msg == P.Msg.REWARD and r.brain_ids.tolist() == args[1]
            assert r.values.tolist() == np.asarray(args[2], np.float32).tolist()
        elif call == "subscribe":
            s2 = P.Subscribe.decode(payload)
            assert msg == P.Msg.SUBSCRIBE and (s2.population, s2.brain_ids.tolist()) == (args[1], args[2])
        elif call == "unsubscribe":
            assert (msg, payload) == (P.Msg.UNSUBSCRIBE, struct.pack("<I", args[1]))
        elif call in ("set_learning", "bye"):
            assert msg == (P.Msg.SET_LEARNING if call == "set_learning" else P.Msg.BYE)
            assert payload == bytes([1 if args[1] else 0])
        elif call == "snapshot":
            assert msg == (P.Msg.LOAD if args[2] else P.Msg.SAVE)
            assert payload == struct.pack("<H", len(args[1].encode())) + args[1].encode()
        elif call == "ping":
            assert (msg, payload) == (P.Msg.PING, args[1])
        elif call == "export_brain":
            assert (msg, P.ExportBrain.decode(payload)) == (P.Msg.EXPORT_BRAIN, P.ExportBrain(args[1], args[2]))
        elif call == "spawn_asset":
            assert (msg, P.SpawnAsset.decode(payload)) == (P.Msg.SPAWN_ASSET, P.SpawnAsset(args[1], args[2]))
        else:
            pytest.fail(f"case {case['name']}: unknown call {call}")


@pytest.mark.godot
def test_godot3_twin_of_the_encoder_builds_the_recorded_frames(tmp_path: Path) -> None:
    """The same encoder code running in real Godot 3 gives the recorded bytes."""
    godot = godot3_binary()
    assert run_godot3_codec(godot, tmp_path) == recorded_frames()


# ---------------------------------------------------------------------- replay against a real server
def _recv(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    return bytes(buf)


def _raw_replay(host: str, port: int, token: str) -> list[tuple[int, int, bytes]]:
    """Send the recorded frames (token swapped in) and return (type, seq, payload) replies."""
    frames = recorded_frames()
    replies = []
    with socket.create_connection((host, port), timeout=30) as sock:
        for case in load_cases():
            if not case["replay"]:
                continue
            data = frames[case["name"]]
            if case["call"] == "hello":
                assert len(token) == len(DOC_TOKEN)
                data = data.replace(DOC_TOKEN.encode(), token.encode())
            sock.sendall(data)
            length, msg, _flags, seq = P.HEADER.unpack(_recv(sock, P.HEADER_SIZE))
            replies.append((msg, seq, _recv(sock, length - 8)))
    return replies


def _outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except RemoteError as exc:
        return ("error", exc.code)


def _client_replay(host: str, port: int, token_path: Path) -> list[Any]:
    """The same operations through the Python reference client."""
    cases = {c["name"]: _decode_args(c) for c in load_cases()}
    c = Client.connect(host, port, token_file=token_path, name="godot-npc")
    out: list[Any] = [("ok", "welcome")]
    out.append(_outcome(lambda: [ci.name for ci in c.list_circuits()]))
    out.append(_outcome(lambda: c.upload_genome(cases["upload_genome"][1]).name))
    out.append(_outcome(lambda: c.spawn("godot_probe", 3)))
    out.append(_outcome(lambda: c.get_layout()))
    out.append(_outcome(lambda: c.subscribe("out", [])))
    for name in ("exchange_1", "reward", "exchange_2", "set_learning_off", "despawn_1", "exchange_3"):
        a = cases[name]
        if name.startswith("exchange"):
            out.append(_outcome(lambda a=a: c.exchange(a[2], np.asarray(a[3], np.float32))))
        elif name == "reward":
            out.append(_outcome(lambda a=a: c.reward(a[1], a[2])))
        elif name == "set_learning_off":
            out.append(_outcome(lambda: c.set_learning(False)))
        else:
            out.append(_outcome(lambda a=a: c.despawn(a[1])))
    out.append(_outcome(lambda: c.unsubscribe(cases["unsubscribe"][1])))
    out.append(_outcome(lambda: c.stats()))
    out.append(_outcome(lambda: c.ping(cases["ping"][1])))
    out.append(_outcome(lambda: c.close(bye=True)))
    return out


def test_recorded_frames_drive_a_real_server_like_the_python_client(tmp_path: Path) -> None:
    seed = 5
    with running_server(tmp_path / "a", seed=seed) as srv:
        raw = _raw_replay(srv.host, srv.port, srv.token)
    with running_server(tmp_path / "b", seed=seed) as srv:
        ref = _client_replay(srv.host, srv.port, srv.token_path)
    cases = [c for c in load_cases() if c["replay"]]
    assert len(raw) == len(ref) == len(cases)
    expected = {"hello_doc_example": P.Msg.WELCOME, "list_circuits": P.Msg.CIRCUITS,
                "upload_genome": P.Msg.CIRCUITS, "spawn_3": P.Msg.SPAWNED, "get_layout": P.Msg.LAYOUT,
                "subscribe_out": P.Msg.SUBSCRIBED, "exchange_1": P.Msg.EXCHANGE_RESULT, "reward": P.Msg.OK,
                "exchange_2": P.Msg.EXCHANGE_RESULT, "set_learning_off": P.Msg.OK, "despawn_1": P.Msg.LAYOUT,
                "exchange_3": P.Msg.EXCHANGE_RESULT, "unsubscribe": P.Msg.OK, "stats": P.Msg.STATS_RESULT,
                "ping": P.Msg.PONG, "bye": P.Msg.OK}
    got = {c["name"]: msg for c, (msg, _seq, _payload) in zip(cases, raw, strict=True)}
    assert got == expected, {k: (hex(got[k]), hex(v)) for k, v in expected.items() if got.get(k) != v}
    exchanges = 0
    for case, (msg, seq, payload), (kind, value) in zip(cases, raw, ref, strict=True):
        args = _decode_args(case)
        assert seq == (args[1] if case["call"] == "empty" else args[0]), case["name"]
        if msg == P.Msg.ERROR:
            err = P.decode_error(payload, seq)
            assert (kind, value) == ("error", err.code), f"{case['name']}: {err}"
            continue
        assert kind == "ok", f"{case['name']}: the Python client got error {value}, the frames got {msg:#x}"
        name = case["name"]
        if name == "hello_doc_example":
            assert msg == P.Msg.WELCOME
        elif name == "list_circuits":
            assert [ci.name for ci in P.decode_circuits(payload)] == value
        elif name == "upload_genome":
            assert msg == P.Msg.CIRCUITS and P.decode_circuits(payload)[0].name == value == "godot_probe"
        elif name == "spawn_3":
            r = P.Reader(payload, "SPAWNED")
            ids = r.array("<u4", r.u32("count"), "ids").tolist()
            assert msg == P.Msg.SPAWNED and ids == value == [0, 1, 2]
        elif name.startswith("exchange"):
            got = P.ExchangeResult.decode(payload)
            assert msg == P.Msg.EXCHANGE_RESULT and got.steps == value.steps and got.epoch == value.epoch
            assert np.array_equal(got.actuators, value.actuators), name
            assert [b.neurons.tolist() for b in got.batches] == [b.neurons.tolist() for b in value.batches]
            exchanges += 1
        elif name == "ping":
            assert (msg, payload) == (P.Msg.PONG, value)
        elif name == "stats":
            assert msg == P.Msg.STATS_RESULT
    assert exchanges == 3
