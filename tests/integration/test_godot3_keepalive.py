"""Keepalive in real headless Godot 3 (``godot3-server``), the twin of
``test_godot4_keepalive.py``: a ``SpikeforgeWorld`` whose scene tree is paused for longer
than the server's ``--idle-timeout`` keeps its connection, session and brain (PING every
``keepalive_period`` seconds without other frames: the default 30 s ``keepalive_interval``
lowered to 1 s by the 2 s idle timeout WELCOME announced); the control world with the
keepalive off is dropped by the server (``idle_timeouts`` = 1) and resumes.

Skips without ``godot3-server`` (fails under CI like the other Godot 3 tests).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.integration.godot_support.harness import (
    GODOT3_ADDON,
    REPO,
    SLOW_MACHINE,
    errors_in,
    godot3_binary,
    timeout_prefix,
)

from spikeforge.bench.godot import godot_env
from spikeforge.ipc.protocol import Msg
from spikeforge.ipc.testing import ReplyDropper, running_server

pytestmark = pytest.mark.godot

SCRIPT = REPO / "tests" / "integration" / "godot3_keepalive" / "keepalive_probe.gd"
IDLE_TIMEOUT_S = 2
PAUSE_S = 5


def test_godot3_paused_scene_keeps_its_session(tmp_path: Path) -> None:
    godot = godot3_binary()
    project = tmp_path / "keepalive"
    (project / "addons").mkdir(parents=True)
    shutil.copytree(GODOT3_ADDON, project / "addons" / "spikeforge")
    shutil.copy(SCRIPT, project / "keepalive_probe.gd")
    (project / "project.godot").write_text(
        'config_version=4\n\n[application]\n\nconfig/name="keepalive"\n\n[debug]\n\n'
        "file_logging/enable_file_logging=false\n", encoding="utf-8")
    check = subprocess.run([*timeout_prefix(60), godot, "--path", str(project), "--check-only", "-s",
                            "keepalive_probe.gd"], capture_output=True, text=True, timeout=70, env=godot_env(tmp_path))
    assert check.returncode == 0 and not errors_in(check.stdout + check.stderr), check.stdout + check.stderr
    with running_server(tmp_path / "server", args=["--idle-timeout", str(IDLE_TIMEOUT_S)]) as srv:
        env = godot_env(tmp_path, {"SPIKEFORGE_PORT": str(srv.port), "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
                                   "SPIKEFORGE_PAUSE_S": str(PAUSE_S)})
        proc = subprocess.run([*timeout_prefix(60), godot, "--path", str(project), "-s", "keepalive_probe.gd"],
                              capture_output=True, text=True, timeout=70, env=env)
        log = srv.stderr
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"Godot 3 exited with {proc.returncode} (124: it did not quit)\n{out[-4000:]}"
    assert "SPIKEFORGE_KEEPALIVE_FAIL" not in out, out[-4000:]
    assert not [line for line in out.splitlines() if "SCRIPT ERROR" in line], out[-4000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("SPIKEFORGE_KEEPALIVE ")]
    assert lines, out[-4000:]
    s = json.loads(lines[-1].split(" ", 1)[1])
    # WELCOME announced the idle timeout: 30 s configured -> a PING after 1 s without a frame
    assert s["idle_timeout"] == IDLE_TIMEOUT_S and s["keepalive_period"] == 1.0, s
    assert s["plain_keepalive_period"] == 0.0, s
    # no exchange while paused, and PINGs (every ~1 s) kept the connection
    assert s["paused_exchanges"] == s["exchanges_at_resume"], s
    assert s["kept_online_at_resume"] and s["kept_drops"] == 0, s
    assert PAUSE_S - 2 <= s["keepalives"] <= PAUSE_S + 1, s
    assert s["kept_session_after"] == s["kept_session"] and s["kept_brain_after"] == s["kept_brain"] >= 0, s
    # the control (keepalive off) was dropped for idling and came back through its grace
    assert s["plain_keepalives"] == 0 and s["plain_drops"] >= 1, s
    assert s["plain_resumed"] and s["plain_session_after"] == s["plain_session"], s
    assert s["plain_brain_after"] == s["plain_brain"], s
    assert s["limits"]["idle_timeouts"] == 1 and s["limits"]["idle_timeout_s"] == IDLE_TIMEOUT_S, s
    assert "Traceback" not in log and "internal error" not in log, log[-4000:]


RESUME_SCRIPT = REPO / "tests" / "integration" / "godot3_resume" / "resume_probe.gd"
AGENTS = 4


def test_godot3_resume_despawns_the_brains_of_a_lost_spawn_reply(tmp_path: Path) -> None:
    """The twin of the Godot 4 test: the server wrote the SPAWNED reply, the world never got
    it (the proxy swallows it and closes), the resumed session holds brains the world does
    not know: the world despawns them and spawns its agents' brains again, one per agent."""
    godot = godot3_binary()
    project = tmp_path / "resume"
    (project / "addons").mkdir(parents=True)
    shutil.copytree(GODOT3_ADDON, project / "addons" / "spikeforge")
    shutil.copy(RESUME_SCRIPT, project / "resume_probe.gd")
    (project / "project.godot").write_text(
        'config_version=4\n\n[application]\n\nconfig/name="resume"\n\n[debug]\n\n'
        "file_logging/enable_file_logging=false\n", encoding="utf-8")
    check = subprocess.run([*timeout_prefix(60), godot, "--path", str(project), "--check-only", "-s",
                            "resume_probe.gd"], capture_output=True, text=True, timeout=70, env=godot_env(tmp_path))
    assert check.returncode == 0 and not errors_in(check.stdout + check.stderr), check.stdout + check.stderr
    with running_server(tmp_path / "server", args=["--grace-seconds", "60"]) as srv, \
            ReplyDropper(srv.host, srv.port) as proxy:
        proxy.drop_next(Msg.SPAWNED)
        env = godot_env(tmp_path, {**SLOW_MACHINE, "SPIKEFORGE_PORT": str(proxy.port),
                                   "SPIKEFORGE_TOKEN_FILE": str(srv.token_path), "SPIKEFORGE_AGENTS": str(AGENTS)})
        proc = subprocess.run([*timeout_prefix(150), godot, "--path", str(project), "-s", "resume_probe.gd"],
                              capture_output=True, text=True, timeout=160, env=env)
        log = srv.stderr
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"Godot 3 exited with {proc.returncode} (124: it did not quit)\n{out[-4000:]}"
    assert "SPIKEFORGE_RESUME_FAIL" not in out, out[-4000:]
    assert not [line for line in out.splitlines() if "SCRIPT ERROR" in line], out[-4000:]
    assert [m for m, _ in proxy.dropped] == [Msg.SPAWNED], proxy.dropped
    lines = [line for line in proc.stdout.splitlines() if line.startswith("SPIKEFORGE_RESUME ")]
    assert lines, out[-4000:]
    s = json.loads(lines[-1].split(" ", 1)[1])
    assert s["drops"] == 1 and s["resumes"] == 1, s
    assert s["world_brains"] == AGENTS, s
    assert s["reconciled"] == AGENTS, s  # the lost spawn's brains, despawned
    assert len(s["agent_brains"]) == AGENTS and s["layout_brains"] == s["agent_brains"], s
    assert "Traceback" not in log and "internal error" not in log, log[-4000:]


SUBSCRIBE_SCRIPT = REPO / "tests" / "integration" / "godot3_resume" / "subscribe_probe.gd"


def test_godot3_resume_unsubscribes_a_subscription_whose_reply_was_lost(tmp_path: Path) -> None:
    """The twin of the Godot 4 test: the server wrote the SUBSCRIBED reply, the world never got
    it (the proxy swallows it and closes), the resumed session holds a subscription the world
    does not know (protocol 1.2): the world unsubscribes it and subscribes its SpikeSignal's
    population again, so the session's subscriptions and the exchange's batches are its own."""
    godot = godot3_binary()
    project = tmp_path / "subs"
    (project / "addons").mkdir(parents=True)
    shutil.copytree(GODOT3_ADDON, project / "addons" / "spikeforge")
    shutil.copy(SUBSCRIBE_SCRIPT, project / "subscribe_probe.gd")
    (project / "project.godot").write_text(
        'config_version=4\n\n[application]\n\nconfig/name="subs"\n\n[debug]\n\n'
        "file_logging/enable_file_logging=false\n", encoding="utf-8")
    check = subprocess.run([*timeout_prefix(60), godot, "--path", str(project), "--check-only", "-s",
                            "subscribe_probe.gd"], capture_output=True, text=True, timeout=70,
                           env=godot_env(tmp_path))
    assert check.returncode == 0 and not errors_in(check.stdout + check.stderr), check.stdout + check.stderr
    with running_server(tmp_path / "server", args=["--grace-seconds", "60"]) as srv, \
            ReplyDropper(srv.host, srv.port) as proxy:
        proxy.drop_next(Msg.SUBSCRIBED)
        env = godot_env(tmp_path, {**SLOW_MACHINE, "SPIKEFORGE_PORT": str(proxy.port),
                                   "SPIKEFORGE_TOKEN_FILE": str(srv.token_path), "SPIKEFORGE_AGENTS": str(AGENTS)})
        proc = subprocess.run([*timeout_prefix(150), godot, "--path", str(project), "-s", "subscribe_probe.gd"],
                              capture_output=True, text=True, timeout=160, env=env)
        log = srv.stderr
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"Godot 3 exited with {proc.returncode} (124: it did not quit)\n{out[-4000:]}"
    assert "SPIKEFORGE_SUBS_FAIL" not in out, out[-4000:]
    assert not [line for line in out.splitlines() if "SCRIPT ERROR" in line], out[-4000:]
    assert [m for m, _ in proxy.dropped] == [Msg.SUBSCRIBED], proxy.dropped
    lines = [line for line in proc.stdout.splitlines() if line.startswith("SPIKEFORGE_SUBS ")]
    assert lines, out[-4000:]
    s = json.loads(lines[-1].split(" ", 1)[1])
    assert s["drops"] == 1 and s["resumes"] == 1, s
    assert s["reconciled_subscriptions"] == 1, s  # the lost SUBSCRIBE's subscription
    assert len(s["world_subscriptions"]) == 1 and s["server_subscriptions"] == 1, s
    assert s["batch_sub_ids"] == s["world_subscriptions"], s
    assert s["world_brains"] == AGENTS, s
    assert "Traceback" not in log and "internal error" not in log, log[-4000:]
