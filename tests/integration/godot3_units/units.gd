extends SceneTree
# Unit checks of the Godot 3 addon's nodes in a real engine, without a server.
# Prints "SPIKEFORGE_CHECK <name> ok" or "SPIKEFORGE_CHECK <name> FAIL <detail>" per
# check and "SPIKEFORGE_UNITS_DONE <count>" at the end. SPIKEFORGE_RESULT_HEX: an
# EXCHANGE_RESULT payload (hex) made by the Python codec, decoded here and printed as
# "SPIKEFORGE_DECODED <json>".

const Proto = preload("res://addons/spikeforge/protocol.gd")
const Agent = preload("res://addons/spikeforge/brain_agent.gd")
const Rays2D = preload("res://addons/spikeforge/sensors/raycast_sensor_2d.gd")
const Rays3D = preload("res://addons/spikeforge/sensors/raycast_sensor_3d.gd")
const Value = preload("res://addons/spikeforge/sensors/value_sensor.gd")
const Motor = preload("res://addons/spikeforge/actuators/motor_actuator.gd")
const Action = preload("res://addons/spikeforge/actuators/action_actuator.gd")
const Spikes = preload("res://addons/spikeforge/actuators/spike_signal.gd")

var checks = 0
var frames = 0
var body2d: KinematicBody2D
var eyes2d
var eyes3d
var events = []


func check(name: String, ok: bool, detail = "") -> void:
	checks += 1
	if ok:
		print("SPIKEFORGE_CHECK %s ok" % name)
	else:
		print("SPIKEFORGE_CHECK %s FAIL %s" % [name, str(detail)])


func _init() -> void:
	# --- a 2D body with an agent, two sensors, actuators, a spike listener
	body2d = KinematicBody2D.new()
	var shape = CollisionShape2D.new()
	shape.shape = CircleShape2D.new()
	body2d.add_child(shape)
	root.add_child(body2d)
	var agent = Agent.new()
	body2d.add_child(agent)
	eyes2d = Rays2D.new()
	eyes2d.organ = "eyes"
	eyes2d.n_rays = 3
	eyes2d.ray_length = 100.0
	eyes2d.cone_degrees = 90.0
	eyes2d.debug_draw = false
	body2d.add_child(eyes2d)
	var value = Value.new()
	value.organ = "speed"
	value.channels = 2
	agent.add_child(value)
	var motor = Motor.new()
	motor.organ = "motor"
	body2d.add_child(motor)
	var action = Action.new()
	action.organ = "act"
	body2d.add_child(action)
	var spikes = Spikes.new()
	spikes.population = "motor"
	spikes.watch_neurons = PoolIntArray([3])
	body2d.add_child(spikes)
	# a wall 50 px ahead of the middle ray
	var wall = StaticBody2D.new()
	var wall_shape = CollisionShape2D.new()
	wall_shape.shape = RectangleShape2D.new()
	wall_shape.shape.extents = Vector2(5, 200)
	wall.add_child(wall_shape)
	wall.position = Vector2(55, 0)
	root.add_child(wall)
	# 3D: a box 4 m ahead (-Z) of a 1x1 sensor
	var body3d = KinematicBody.new()
	root.add_child(body3d)
	eyes3d = Rays3D.new()
	eyes3d.rays_wide = 1
	eyes3d.rays_high = 1
	eyes3d.ray_length = 10.0
	body3d.add_child(eyes3d)
	var box = StaticBody.new()
	var box_shape = CollisionShape.new()
	box_shape.shape = BoxShape.new()
	box_shape.shape.extents = Vector3(2, 2, 1)
	box.add_child(box_shape)
	box.translation = Vector3(0, 0, -5)
	root.add_child(box)

	# --- BrainAgent finds its organs under the body, not under other agents
	var s = agent.sensors()
	var a = agent.actuators()
	check("agent_sensors", s.has("eyes") and s.has("speed") and s.size() == 2, s.keys())
	check("agent_actuators", a.has("motor") and a.has("act") and a.size() == 2, a.keys())
	check("agent_spike_listeners", agent.spike_listeners() == [spikes], agent.spike_listeners())
	check("agent_in_group", agent.is_in_group("spikeforge_agents"))
	agent.add_reward(0.5)
	agent.add_reward(0.25)
	check("agent_reward", agent.pending_reward == 0.75 and agent.is_in_group("spikeforge_rewarded"))

	# --- ValueSensor: script values, wrong sizes refused, NaN sent as 0, source property
	value.set_values(PoolRealArray([1.5, NAN]))
	var got = value.get_values()
	check("value_set_values", got.size() == 2 and got[0] == 1.5 and got[1] == 0.0, got)
	value.set_values(PoolRealArray([1.0]))  # wrong size: refused with an error, values kept
	check("value_wrong_size_kept", value.get_values()[0] == 1.5)
	body2d.position = Vector2(3, -4)
	value.source = value.get_path_to(body2d)
	value.property = "position"
	value.scale = 2.0
	got = value.get_values()
	check("value_source_vector2", got[0] == 6.0 and got[1] == -8.0, got)
	body2d.position = Vector2.ZERO

	# --- MotorActuator: DIFFERENTIAL, left faster turns right (clockwise, y down)
	var target = Node2D.new()
	root.add_child(target)
	motor.body = motor.get_path_to(target)
	motor.max_rate_hz = 100.0
	motor.max_speed = 10.0
	motor.max_turn = 1.0
	motor.apply_outputs(PoolRealArray([100.0, 0.0]), 0.5)
	check("motor_turn_right", is_equal_approx(target.rotation, 0.5) and is_equal_approx(motor.command.x, 0.5),
		[target.rotation, motor.command])
	target.rotation = 0.0
	target.position = Vector2.ZERO
	motor.apply_outputs(PoolRealArray([50.0, 50.0]), 1.0)
	check("motor_forward", target.position.is_equal_approx(Vector2(5, 0)), target.position)
	motor.mode = motor.Mode.AXES
	target.position = Vector2.ZERO
	motor.apply_outputs(PoolRealArray([0.0, 100.0, 100.0, 0.0]), 1.0)
	check("motor_axes", target.position.is_equal_approx(Vector2(-10, 10)), target.position)

	# --- ActionActuator: signals on a win and on a change; hold_last
	action.connect("action_selected", self, "_on_event", ["selected"])
	action.connect("action_changed", self, "_on_event", ["changed"])
	action.apply_outputs(PoolRealArray([2.0]), 0.016)
	action.apply_outputs(PoolRealArray([2.0]), 0.016)
	action.apply_outputs(PoolRealArray([-1.0]), 0.016)
	check("action_signals", events == [["selected", 2], ["changed", 2], ["selected", 2], ["changed", -1]], events)
	action.hold_last = true
	action.apply_outputs(PoolRealArray([1.0]), 0.016)
	action.apply_outputs(PoolRealArray([-1.0]), 0.016)
	check("action_hold_last", action.action == 1, action.action)

	# --- SpikeSignal
	events = []
	spikes.connect("spiked", self, "_on_spiked")
	spikes.connect("neuron_fired", self, "_on_fired")
	spikes.on_spikes([10, 10, 12], PoolIntArray([3, 5, 3]))
	check("spike_signals", events == [["spiked", 3], ["fired", 3, 2]] and spikes.last_count == 3, events)

	# --- decoders on a payload made by the Python codec
	var hex = OS.get_environment("SPIKEFORGE_RESULT_HEX")
	if hex != "":
		var raw = PoolByteArray()
		for i in range(0, hex.length(), 2):
			raw.append(("0x" + hex.substr(i, 2)).hex_to_int())
		var r = Proto.decode_exchange_result(raw)
		var out = {"epoch": r["epoch"], "steps": r["steps"], "sim_us": r["sim_us"],
			"actuators": Array(r["actuators"]), "batches": []}
		for batch in r["batches"]:
			var steps = []
			for k in batch["neurons"].size():
				steps.append(Proto.spike_step(batch["step_words"], k))
			out["batches"].append({"sub_id": batch["sub_id"], "truncated": batch["truncated"], "steps": steps,
				"brain_ids": Array(batch["brain_ids"]), "neurons": Array(batch["neurons"])})
		print("SPIKEFORGE_DECODED " + JSON.print(out))


func _on_event(a, b = null, c = null) -> void:
	# action_selected(a) + bind -> (a, tag); action_changed(a, prev) + bind -> (a, prev, tag)
	if c == null:
		events.append([b, a])
	else:
		events.append([c, a])


func _on_spiked(steps, neurons) -> void:
	events.append(["spiked", neurons.size()])


func _on_fired(neuron, count) -> void:
	events.append(["fired", neuron, count])


func _idle(_delta: float) -> bool:
	frames += 1
	if frames < 3:
		return false  # let the physics spaces register the bodies
	# --- raycasts: the middle ray hits the wall face at 50 px (closeness 0.5); the side
	# rays (45 degrees) hit it at 50 / cos(45) = 70.7 px
	var v = eyes2d.get_values()
	check("rays2d", v.size() == 3 and abs(v[1] - 0.5) < 0.02 and abs(v[0] - (1.0 - 70.71 / 100.0)) < 0.02
		and abs(v[2] - v[0]) < 0.001, v)
	var w = eyes3d.get_values()
	check("rays3d", w.size() == 1 and abs(w[0] - 0.6) < 0.02, w)
	print("SPIKEFORGE_UNITS_DONE %d" % checks)
	quit()
	return true
