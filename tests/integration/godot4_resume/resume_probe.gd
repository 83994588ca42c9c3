extends SceneTree
# Reconcile after a resume in real Godot 4 (tests/integration/test_godot4_keepalive.py):
# a SpikeforgeWorld reaches the server through a proxy that swallows its first SPAWNED
# reply and closes the connection (the server wrote the reply: its session keeps those
# brains). The world resumes the session, despawns the brains it never learned about and
# spawns its agents' brains again. Prints "SPIKEFORGE_RESUME <json>", or
# "SPIKEFORGE_RESUME_FAIL <why>".
# Environment: SPIKEFORGE_PORT (the proxy), SPIKEFORGE_TOKEN_FILE, SPIKEFORGE_AGENTS,
# SPIKEFORGE_REPLY_TIMEOUT.

const WorldScript := preload("res://addons/spikeforge/spikeforge_world.gd")
const AgentScript := preload("res://addons/spikeforge/brain_agent.gd")

var _phase := 0
var _t0 := 0
var _world: SpikeforgeWorld
var _agents: Array[BrainAgent] = []
var _drops := 0
var _resumes := 0


func _fail(why: String) -> void:
	print("SPIKEFORGE_RESUME_FAIL %s" % why)
	_phase = 99


func _process(_delta: float) -> bool:
	match _phase:
		0:
			_world = WorldScript.new()
			_world.port = int(OS.get_environment("SPIKEFORGE_PORT"))
			_world.token_file = OS.get_environment("SPIKEFORGE_TOKEN_FILE")
			_world.client_name = "resumer"
			_world.auto_start = false
			_world.reply_timeout = float(OS.get_environment("SPIKEFORGE_REPLY_TIMEOUT"))
			_world.reconnect_interval = 0.1
			_world.disconnected.connect(func(_why: String) -> void: _drops += 1)
			_world.connected.connect(func(resumed: bool) -> void: _resumes += int(resumed))
			root.add_child(_world)
			for i in int(OS.get_environment("SPIKEFORGE_AGENTS")):
				var body := Node.new()
				var agent: BrainAgent = AgentScript.new()
				agent.circuit = &"probe"
				body.add_child(agent)
				root.add_child(body)
				_agents.append(agent)
			if not _world.start():
				_fail("cannot connect")
				return true
			_t0 = Time.get_ticks_msec()
			_phase = 1
		1:
			var ids := []
			for agent in _agents:
				if agent.brain_id >= 0:
					ids.append(agent.brain_id)
			if _resumes >= 1 and _world.is_online() and ids.size() == _agents.size() and _world.exchanges >= 10:
				ids.sort()
				var listed := []
				for group: Dictionary in _world.layout["groups"]:
					listed.append_array(Array(group["brain_ids"]))
				listed.sort()
				var summary := {
					"agent_brains": ids, "layout_brains": listed, "drops": _drops,
					"resumes": _resumes, "reconciled": _world.reconciled_brains,
					"session": int(_world.session()["session_id"]),
					"world_brains": int(_world.server_stats().get("world", {}).get("brains", -1)),
				}
				print("SPIKEFORGE_RESUME %s" % JSON.stringify(summary))
				_world.stop()
				_phase = 99
			elif Time.get_ticks_msec() - _t0 > 60000:
				_fail("not resumed with all brains in 60 s (online %s, resumes %d, brains %d of %d)" % [
					_world.is_online(), _resumes, ids.size(), _agents.size()])
		99:
			return true
	return false
