extends SceneTree
# Brains as assets in real Godot 4 (tests/integration/test_godot4_assets.py): a
# SpikeforgeWorld runs one BrainAgent of the server's "probe" circuit, exports its brain
# (EXPORT_BRAIN) to a file, then spawns it back twice: through a BrainAgent's
# brain_asset_file and through spawn_from_asset(bytes, agent). Prints one
# "SPIKEFORGE_ASSETS <json>" line, or "SPIKEFORGE_ASSETS_FAIL <why>".
# Environment: SPIKEFORGE_PORT, SPIKEFORGE_TOKEN_FILE, SPIKEFORGE_ASSET_OUT (file to write).

const WorldScript := preload("res://addons/spikeforge/spikeforge_world.gd")
const AgentScript := preload("res://addons/spikeforge/brain_agent.gd")

var _ran := false


func _process(_delta: float) -> bool:
	if not _ran:
		_ran = true
		_run()
	return true


func _agent(circuit_name: StringName) -> BrainAgent:
	var body := Node.new()
	var agent: BrainAgent = AgentScript.new()
	agent.circuit = circuit_name
	body.add_child(agent)
	root.add_child(body)
	return agent


func _fail(why: String) -> void:
	print("SPIKEFORGE_ASSETS_FAIL %s" % why)


func _run() -> void:
	var out_path := OS.get_environment("SPIKEFORGE_ASSET_OUT")
	var world: SpikeforgeWorld = WorldScript.new()
	world.port = int(OS.get_environment("SPIKEFORGE_PORT"))
	world.token_file = OS.get_environment("SPIKEFORGE_TOKEN_FILE")
	world.client_name = "godot4-assets"
	world.auto_start = false
	world.step_in_physics = false
	world.reply_timeout = 60.0
	root.add_child(world)
	var first := _agent(&"probe")
	if not world.start():
		_fail("cannot connect")
		return
	for i in 20:
		if world.step(1.0 / 60.0).has("error"):
			_fail("exchange %d failed" % i)
			return
	var data := world.export_brain_asset(first.brain_id)
	if data.is_empty():
		_fail("export_brain_asset gave nothing")
		return
	var f := FileAccess.open(out_path, FileAccess.WRITE)
	f.store_buffer(data)
	f.close()
	# spawn_from_asset(bytes, agent): the agent is in the tree but gets its brain right away
	var third := _agent(&"probe")
	var third_id := world.spawn_from_asset(data, third)
	var copy := world.export_brain_asset(third_id)
	var g := FileAccess.open(out_path + ".copy", FileAccess.WRITE)
	g.store_buffer(copy)
	g.close()
	# a BrainAgent whose brain comes from an asset file, spawned by the next step
	var second := _agent(&"")
	second.brain_asset_file = out_path
	for i in 5:
		if world.step(1.0 / 60.0).has("error"):
			_fail("exchange after the asset spawns failed")
			return
	var brains := 0
	for group: Dictionary in world.layout.get("groups", []):
		brains += (group["brain_ids"] as PackedInt32Array).size()
	var summary := {
		"bytes": data.size(), "first": first.brain_id, "second": second.brain_id,
		"third": third_id, "third_agent": third.brain_id, "brains": brains,
		"exchanges": world.exchanges,
	}
	print("SPIKEFORGE_ASSETS %s" % JSON.stringify(summary))
	world.stop()
