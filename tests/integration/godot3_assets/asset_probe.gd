extends SceneTree
# Brains as assets in real Godot 3: the twin of tests/integration/godot4_assets/asset_probe.gd
# (see there). Prints "SPIKEFORGE_ASSETS <json>" or "SPIKEFORGE_ASSETS_FAIL <why>".

const WorldScript = preload("res://addons/spikeforge/spikeforge_world.gd")
const AgentScript = preload("res://addons/spikeforge/brain_agent.gd")

var _ran = false


func _idle(_delta: float) -> bool:
	if not _ran:
		_ran = true
		_run()
		quit()
	return true


func _agent(circuit_name: String):
	var body = Node.new()
	var agent = AgentScript.new()
	agent.circuit = circuit_name
	body.add_child(agent)
	root.add_child(body)
	return agent


func _write(path: String, data: PoolByteArray) -> void:
	var f = File.new()
	f.open(path, File.WRITE)
	f.store_buffer(data)
	f.close()


func _run() -> void:
	var out_path = OS.get_environment("SPIKEFORGE_ASSET_OUT")
	var world = WorldScript.new()
	world.port = int(OS.get_environment("SPIKEFORGE_PORT"))
	world.token_file = OS.get_environment("SPIKEFORGE_TOKEN_FILE")
	world.client_name = "godot3-assets"
	world.auto_start = false
	world.step_in_physics = false
	world.reply_timeout = 60.0
	root.add_child(world)
	var first = _agent("probe")
	if not world.start():
		print("SPIKEFORGE_ASSETS_FAIL cannot connect")
		return
	for i in range(20):
		var res = world.step(1.0 / 60.0)
		if res.has("error"):
			print("SPIKEFORGE_ASSETS_FAIL exchange %d failed: %s" % [i, res["error"]])
			return
	var data = world.export_brain_asset(first.brain_id)
	if data.size() == 0:
		print("SPIKEFORGE_ASSETS_FAIL export_brain_asset gave nothing")
		return
	_write(out_path, data)
	var third = _agent("probe")
	var third_id = world.spawn_from_asset(data, third)
	_write(out_path + ".copy", world.export_brain_asset(third_id))
	var second = _agent("")
	second.brain_asset_file = out_path
	for i in range(5):
		if world.step(1.0 / 60.0).has("error"):
			print("SPIKEFORGE_ASSETS_FAIL exchange after the asset spawns failed")
			return
	var brains = 0
	for group in world.layout.get("groups", []):
		brains += group["brain_ids"].size()
	var summary = {
		"bytes": data.size(), "first": first.brain_id, "second": second.brain_id,
		"third": third_id, "third_agent": third.brain_id, "brains": brains,
		"exchanges": world.exchanges,
	}
	print("SPIKEFORGE_ASSETS %s" % JSON.print(summary))
	world.stop()
