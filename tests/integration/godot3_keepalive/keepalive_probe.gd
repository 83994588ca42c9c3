extends SceneTree
# Keepalive in real Godot 3 (tests/integration/test_godot3_keepalive.py), the twin of
# tests/integration/godot4_keepalive/keepalive_probe.gd: two SpikeforgeWorlds with one
# BrainAgent each ("probe" circuit) exchange from _physics_process; the tree is paused
# for SPIKEFORGE_PAUSE_S seconds (longer than the server's --idle-timeout) and resumed.
# "kept" (keepalive_interval 30 s, the default, lowered to 1 s by the idle timeout the
# server announced in WELCOME) must keep its connection, session and brain; "plain"
# (keepalive off) is the control: dropped by the server, it resumes. Prints
# "SPIKEFORGE_KEEPALIVE <json>", or "SPIKEFORGE_KEEPALIVE_FAIL <why>".
# Environment: SPIKEFORGE_PORT, SPIKEFORGE_TOKEN_FILE, SPIKEFORGE_PAUSE_S.

const WorldScript = preload("res://addons/spikeforge/spikeforge_world.gd")
const AgentScript = preload("res://addons/spikeforge/brain_agent.gd")

var _phase = 0
var _t0 = 0
var _kept
var _plain
var _kept_agent
var _plain_agent
var _before = {}
var _drops = {"kept": 0, "plain": 0}
var _paused_exchanges = -1


func _world(client_name: String, keepalive: float):
	var world = WorldScript.new()
	world.port = int(OS.get_environment("SPIKEFORGE_PORT"))
	world.token_file = OS.get_environment("SPIKEFORGE_TOKEN_FILE")
	world.client_name = client_name
	world.auto_start = false
	world.keepalive_interval = keepalive
	world.reply_timeout = 30.0
	world.reconnect_interval = 0.1
	world.connect("disconnected", self, "_on_disconnected", [client_name])
	root.add_child(world)
	return world


func _on_disconnected(_why, client_name) -> void:
	_drops[client_name] += 1


func _agent():
	var body = Node.new()
	var agent = AgentScript.new()
	agent.circuit = "probe"
	body.add_child(agent)
	root.add_child(body)
	return agent


func _fail(why: String) -> void:
	print("SPIKEFORGE_KEEPALIVE_FAIL %s" % why)
	_phase = 99


func _idle(_delta: float) -> bool:
	var now = OS.get_ticks_msec()
	match _phase:
		0:
			_kept = _world("kept", 30.0)
			_plain = _world("plain", 0.0)
			_kept_agent = _agent()
			_plain_agent = _agent()
			if not _kept.start() or not _plain.start():
				_fail("cannot connect")
				return true
			_phase = 1
		1:
			if _kept.exchanges >= 10 and _plain.exchanges >= 10:
				_before = {
					"kept_session": int(_kept.session()["session_id"]),
					"plain_session": int(_plain.session()["session_id"]),
					"kept_brain": _kept_agent.brain_id, "plain_brain": _plain_agent.brain_id,
					"kept_exchanges": _kept.exchanges,
					"idle_timeout": _kept.idle_timeout, "keepalive_period": _kept.keepalive_period,
					"plain_keepalive_period": _plain.keepalive_period,
				}
				paused = true
				_t0 = now
				_phase = 2
		2:
			if _paused_exchanges < 0 and now - _t0 > 200:
				_paused_exchanges = _kept.exchanges
			if now - _t0 > int(float(OS.get_environment("SPIKEFORGE_PAUSE_S")) * 1000.0):
				_before["exchanges_at_resume"] = _kept.exchanges
				_before["kept_online_at_resume"] = _kept.is_online()
				_before["keepalives"] = _kept.keepalives
				_before["plain_keepalives"] = _plain.keepalives
				paused = false
				_t0 = now
				_phase = 3
		3:
			var done = _kept.exchanges >= int(_before["exchanges_at_resume"]) + 10
			done = done and _plain.is_online() and _plain.exchanges >= int(_before["kept_exchanges"]) + 10
			if done:
				var summary = _before.duplicate()
				summary["paused_exchanges"] = _paused_exchanges
				summary["kept_session_after"] = int(_kept.session()["session_id"])
				summary["plain_session_after"] = int(_plain.session()["session_id"])
				summary["plain_resumed"] = bool(_plain.session().get("resumed", false))
				summary["kept_brain_after"] = _kept_agent.brain_id
				summary["plain_brain_after"] = _plain_agent.brain_id
				summary["kept_drops"] = _drops["kept"]
				summary["plain_drops"] = _drops["plain"]
				summary["limits"] = _kept.server_stats().get("server", {}).get("limits", {})
				print("SPIKEFORGE_KEEPALIVE %s" % to_json(summary))
				_kept.stop()
				_plain.stop()
				_phase = 99
			elif now - _t0 > 15000:
				_fail("no exchanges after resuming (kept online %s, plain online %s)" % [
					_kept.is_online(), _plain.is_online()])
		99:
			quit()  # Godot 3 ignores _idle's return value
			return true
	return false
