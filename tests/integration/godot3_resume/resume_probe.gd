extends SceneTree
# Reconcile after a resume in real Godot 3 (tests/integration/test_godot3_keepalive.py),
# the twin of tests/integration/godot4_resume/resume_probe.gd: a SpikeforgeWorld reaches
# the server through a proxy that swallows its first SPAWNED reply and closes the
# connection (the server wrote the reply: its session keeps those brains). The world
# resumes the session, despawns the brains it never learned about and spawns its agents'
# brains again. Prints "SPIKEFORGE_RESUME <json>", or "SPIKEFORGE_RESUME_FAIL <why>".
# Environment: SPIKEFORGE_PORT (the proxy), SPIKEFORGE_TOKEN_FILE, SPIKEFORGE_AGENTS,
# SPIKEFORGE_REPLY_TIMEOUT.

const WorldScript = preload("res://addons/spikeforge/spikeforge_world.gd")
const AgentScript = preload("res://addons/spikeforge/brain_agent.gd")

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
	print("SPIKEFORGE_RESUME_FAIL %s" % why)
	_phase = 99


func _idle(_delta: float) -> bool:
	match _phase:
		0:
			_world = WorldScript.new()
			_world.port = int(OS.get_environment("SPIKEFORGE_PORT"))
			_world.token_file = OS.get_environment("SPIKEFORGE_TOKEN_FILE")
			_world.client_name = "resumer"
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
				root.add_child(body)
				_agents.append(agent)
			if not _world.start():
				_fail("cannot connect")
				return true
			_t0 = OS.get_ticks_msec()
			_phase = 1
		1:
			var ids = []
			for agent in _agents:
				if agent.brain_id >= 0:
					ids.append(agent.brain_id)
			if _resumes >= 1 and _world.is_online() and ids.size() == _agents.size() and _world.exchanges >= 10:
				ids.sort()
				var listed = []
				for group in _world.layout["groups"]:
					for id in group["brain_ids"]:
						listed.append(id)
				listed.sort()
				var summary = {
					"agent_brains": ids, "layout_brains": listed, "drops": _drops,
					"resumes": _resumes, "reconciled": _world.reconciled_brains,
					"world_brains": int(_world.server_stats().get("world", {}).get("brains", -1)),
				}
				print("SPIKEFORGE_RESUME %s" % to_json(summary))
				_world.stop()
				_phase = 99
			elif OS.get_ticks_msec() - _t0 > 60000:
				_fail("not resumed with all brains in 60 s (online %s, resumes %d, brains %d of %d)" % [
					_world.is_online(), _resumes, ids.size(), _agents.size()])
		99:
			quit()  # Godot 3 ignores _idle's return value
			return true
	return false
