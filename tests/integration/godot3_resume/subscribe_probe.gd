extends SceneTree
# Reconcile of subscriptions after a resume in real Godot 3 (protocol 1.2;
# tests/integration/test_godot3_keepalive.py), the twin of
# tests/integration/godot4_resume/subscribe_probe.gd: a SpikeforgeWorld whose agents carry
# a SpikeSignal reaches the server through a proxy that swallows its first SUBSCRIBED
# reply and closes the connection (the server wrote the reply: its session keeps that
# subscription). The world resumes, unsubscribes the subscription it never learned about
# and subscribes its listeners again. Prints "SPIKEFORGE_SUBS <json>", or
# "SPIKEFORGE_SUBS_FAIL <why>".
# Environment: SPIKEFORGE_PORT (the proxy), SPIKEFORGE_TOKEN_FILE, SPIKEFORGE_AGENTS,
# SPIKEFORGE_REPLY_TIMEOUT.

const WorldScript = preload("res://addons/spikeforge/spikeforge_world.gd")
const AgentScript = preload("res://addons/spikeforge/brain_agent.gd")
const SpikeScript = preload("res://addons/spikeforge/actuators/spike_signal.gd")

var _phase = 0
var _t0 = 0
var _world
var _agents = []
var _drops = 0
var _resumes = 0


func _on_disconnected(_why) -> void:
	_drops += 1


func _on_connected(resumed) -> void:
	if resumed:
		_resumes += 1


func _fail(why: String) -> void:
	print("SPIKEFORGE_SUBS_FAIL %s" % why)
	_phase = 99


func _idle(_delta: float) -> bool:
	match _phase:
		0:
			_world = WorldScript.new()
			_world.port = int(OS.get_environment("SPIKEFORGE_PORT"))
			_world.token_file = OS.get_environment("SPIKEFORGE_TOKEN_FILE")
			_world.client_name = "subscriber"
			_world.auto_start = false
			_world.reply_timeout = float(OS.get_environment("SPIKEFORGE_REPLY_TIMEOUT"))
			_world.reconnect_interval = 0.1
			_world.connect("disconnected", self, "_on_disconnected")
			_world.connect("connected", self, "_on_connected")
			root.add_child(_world)
			for _i in range(int(OS.get_environment("SPIKEFORGE_AGENTS"))):
				var body = Node.new()
				var agent = AgentScript.new()
				agent.circuit = "probe"
				body.add_child(agent)
				var spikes = SpikeScript.new()
				spikes.population = "out"
				body.add_child(spikes)
				root.add_child(body)
				_agents.append(agent)
			if not _world.start():
				_fail("cannot connect")
				return true
			_t0 = OS.get_ticks_msec()
			_phase = 1
		1:
			var brains = 0
			for agent in _agents:
				if agent.brain_id >= 0:
					brains += 1
			if _resumes >= 1 and _world.is_online() and brains == _agents.size() and _world.exchanges >= 10:
				var result = _world.step(0.01)
				if result.has("error"):
					_fail("step after resume: %s" % result["error"])
					return false
				var batch_ids = []
				for batch in result["batches"]:
					batch_ids.append(int(batch["sub_id"]))
				var session = _world.server_stats().get("session", {})
				var summary = {
					"drops": _drops, "resumes": _resumes,
					"reconciled_subscriptions": _world.reconciled_subscriptions,
					"world_subscriptions": _world._subscriptions.keys(),
					"server_subscriptions": int(session.get("subscriptions", -1)),
					"batch_sub_ids": batch_ids,
					"world_brains": int(_world.server_stats().get("world", {}).get("brains", -1)),
				}
				print("SPIKEFORGE_SUBS %s" % to_json(summary))
				_world.stop()
				_phase = 99
			elif OS.get_ticks_msec() - _t0 > 60000:
				_fail("not resumed with all brains in 60 s (online %s, resumes %d, brains %d of %d)" % [
					_world.is_online(), _resumes, brains, _agents.size()])
		99:
			quit()  # Godot 3 ignores _idle's return value
			return true
	return false
