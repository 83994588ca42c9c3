"""Keepalive in real headless Godot 4: a ``SpikeforgeWorld`` whose scene tree is paused
(``get_tree().paused = true``: a pause menu) for longer than the server's
``--idle-timeout`` keeps its connection, session and brains, because it sends PING when
nothing was sent for ``keepalive_interval`` seconds; a second world with the keepalive
off (the control) is dropped by the server (``idle_timeouts`` = 1) and has to resume.
The kept world is configured for the default 30 s interval: it survives because the
server's WELCOME (protocol 1.1) announced the 2 s idle timeout, which lowers it to 1 s.

Skips without Godot 4 (``make godot4``; fails under CI like the other Godot 4 tests).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.integration.godot_support.harness import (
    GODOT4_SAMPLE,
    REPO,
    SLOW_MACHINE,
    copy_project,
    godot4_binary,
    import_godot4_project,
    run_godot,
)

from spikeforge.ipc.protocol import Msg
from spikeforge.ipc.testing import ReplyDropper, running_server

pytestmark = pytest.mark.godot

SCRIPT = REPO / "tests" / "integration" / "godot4_keepalive" / "keepalive_probe.gd"
IDLE_TIMEOUT_S = 2
PAUSE_S = 5


def test_godot4_paused_scene_keeps_its_session(tmp_path: Path) -> None:
    godot = godot4_binary()
    project = copy_project(GODOT4_SAMPLE, tmp_path / "project")
    shutil.copy(SCRIPT, project / "keepalive_probe.gd")
    import_godot4_project(godot, project, tmp_path)
    with running_server(tmp_path / "server", args=["--idle-timeout", str(IDLE_TIMEOUT_S)]) as srv:
        run = run_godot(godot, project, tmp_path, {"SPIKEFORGE_PORT": str(srv.port),
                                                   "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
                                                   "SPIKEFORGE_PAUSE_S": str(PAUSE_S)},
                        timeout=60, args=["-s", "res://keepalive_probe.gd"], engine=4)
        log = srv.stderr
    out = run.stdout[-4000:] + run.stderr[-4000:]
    assert not run.timed_out, out
    assert not run.markers.get("SPIKEFORGE_KEEPALIVE_FAIL"), out
    assert not run.script_errors(), run.script_errors()
    s = json.loads(run.marker("SPIKEFORGE_KEEPALIVE"))
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


RESUME_SCRIPT = REPO / "tests" / "integration" / "godot4_resume" / "resume_probe.gd"
AGENTS = 4


def test_godot4_resume_despawns_the_brains_of_a_lost_spawn_reply(tmp_path: Path) -> None:
    """The server wrote the SPAWNED reply, the Godot world never got it (the proxy swallows it
    and closes: a reply written into a dead connection, which the server cannot undo), and the
    resumed session holds brains the world does not know: the world despawns them and spawns
    its agents' brains again, so the session owns one brain per agent (CI once saw 200 brains
    for 100 agents)."""
    godot = godot4_binary()
    project = copy_project(GODOT4_SAMPLE, tmp_path / "project")
    shutil.copy(RESUME_SCRIPT, project / "resume_probe.gd")
    import_godot4_project(godot, project, tmp_path)
    with running_server(tmp_path / "server", args=["--grace-seconds", "60"]) as srv, \
            ReplyDropper(srv.host, srv.port) as proxy:
        proxy.drop_next(Msg.SPAWNED)
        run = run_godot(godot, project, tmp_path, {**SLOW_MACHINE,
                                                   "SPIKEFORGE_PORT": str(proxy.port),
                                                   "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
                                                   "SPIKEFORGE_AGENTS": str(AGENTS)},
                        timeout=180, args=["-s", "res://resume_probe.gd"], engine=4)
        log = srv.stderr
    out = run.stdout[-4000:] + run.stderr[-4000:]
    assert not run.timed_out, out
    assert not run.markers.get("SPIKEFORGE_RESUME_FAIL"), out
    assert [m for m, _ in proxy.dropped] == [Msg.SPAWNED], proxy.dropped
    s = json.loads(run.marker("SPIKEFORGE_RESUME"))
    assert s["drops"] == 1 and s["resumes"] == 1, s
    assert s["world_brains"] == AGENTS, s
    assert s["reconciled"] == AGENTS, s  # the lost spawn's brains, despawned
    assert len(s["agent_brains"]) == AGENTS and s["layout_brains"] == s["agent_brains"], s
    assert "Traceback" not in log and "internal error" not in log, log[-4000:]


SUBSCRIBE_SCRIPT = REPO / "tests" / "integration" / "godot4_resume" / "subscribe_probe.gd"


def test_godot4_resume_unsubscribes_a_subscription_whose_reply_was_lost(tmp_path: Path) -> None:
    """The server wrote the SUBSCRIBED reply, the Godot world never got it (the proxy swallows
    it and closes), so the resumed session holds a subscription the world does not know, whose
    batch every exchange would carry (protocol 1.2, PROTOCOL.md section 6): the world lists the
    session's subscriptions, unsubscribes that one and subscribes its SpikeSignal's population
    again, so the session's subscriptions and the exchange's batches are the world's."""
    godot = godot4_binary()
    project = copy_project(GODOT4_SAMPLE, tmp_path / "project")
    shutil.copy(SUBSCRIBE_SCRIPT, project / "subscribe_probe.gd")
    import_godot4_project(godot, project, tmp_path)
    with running_server(tmp_path / "server", args=["--grace-seconds", "60"]) as srv, \
            ReplyDropper(srv.host, srv.port) as proxy:
        proxy.drop_next(Msg.SUBSCRIBED)
        run = run_godot(godot, project, tmp_path, {**SLOW_MACHINE,
                                                   "SPIKEFORGE_PORT": str(proxy.port),
                                                   "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
                                                   "SPIKEFORGE_AGENTS": str(AGENTS)},
                        timeout=180, args=["-s", "res://subscribe_probe.gd"], engine=4)
        log = srv.stderr
    out = run.stdout[-4000:] + run.stderr[-4000:]
    assert not run.timed_out, out
    assert not run.markers.get("SPIKEFORGE_SUBS_FAIL"), out
    assert [m for m, _ in proxy.dropped] == [Msg.SUBSCRIBED], proxy.dropped
    s = json.loads(run.marker("SPIKEFORGE_SUBS"))
    assert s["drops"] == 1 and s["resumes"] == 1, s
    assert s["reconciled_subscriptions"] == 1, s  # the lost SUBSCRIBE's subscription
    assert len(s["world_subscriptions"]) == 1 and s["server_subscriptions"] == 1, s
    assert s["batch_sub_ids"] == s["world_subscriptions"], s
    assert s["world_brains"] == AGENTS, s
    assert "Traceback" not in log and "internal error" not in log, log[-4000:]
