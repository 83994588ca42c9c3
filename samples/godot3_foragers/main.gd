extends Node2D
# Foragers arena (Godot 3). Builds walls and food, spawns the foragers; the
# SpikeforgeWorld child gives each one a brain. Every physics frame, before the exchange,
# it computes each forager's senses as the Python foragers game does: the angle of the
# nearest food relative to the heading (ValueSensor "eye", angle / pi in [-1, 1]) and
# how close it is (ValueSensor "nose", 1 - distance / 500 px); the "explore" sensor is
# held at 1 (exploration noise). With learning on it sends each brain a reward: 1 per
# food item eaten plus `shaping` per radian turned toward the nearest food, minus a
# running-average baseline (time constant `baseline_tau`).
#
# Settings come from the exported variables, or from environment variables (used by the
# end-to-end test, tests/integration/test_godot3_e2e.py):
#   SPIKEFORGE_PORT, SPIKEFORGE_TOKEN_FILE  server to connect to
#   SPIKEFORGE_AGENTS                       number of foragers
#   SPIKEFORGE_EXCHANGES                    quit after this many exchanges (0: run on)
#   SPIKEFORGE_TIME_LIMIT                   quit after this many seconds (wall clock)
#   SPIKEFORGE_RECORD                       file to record every exchange into
#   SPIKEFORGE_SEED                         seed of the arena's own random layout
#   SPIKEFORGE_DROP_AT                      drop the connection after N exchanges (resume test)
#   SPIKEFORGE_FRAME_DT                     step with this frame time (s); 0 = no simulation
#   SPIKEFORGE_LEARNING                     0: switch plasticity off for this client's brains
#   SPIKEFORGE_SPIKES                       0: remove the foragers' SpikeSignal nodes
#   SPIKEFORGE_MIXED                        1: every other forager gets the forager_fast brain
#                                           (and no SpikeSignal)
#   SPIKEFORGE_LAUNCH, SPIKEFORGE_LAUNCH_ARGS  let SpikeforgeWorld start `spikeforge serve`
#                                           (command, and extra arguments separated by spaces)
#   SPIKEFORGE_REPLY_TIMEOUT                SpikeforgeWorld.reply_timeout (s)
# It prints "SPIKEFORGE_FOOD <frame> <food eaten so far> <forager-frames touching a wall
# so far>" every 600 physics frames,
# "SPIKEFORGE_PROGRESS <exchanges> <session number>" every 100 exchanges and
# "SPIKEFORGE_DONE <json>" (counts and timings) at the end.

const Proto = preload("res://addons/spikeforge/protocol.gd")
const ForagerScene = preload("res://forager.tscn")
const FoodScript = preload("res://food.gd")

export(int) var agents = 100
export(int) var food_count = 64
export(float) var food_radius = 20.0
# Reward per radian of turn toward the nearest food (shaping), and the time constant (s)
# of the running-average reward baseline.
export(float) var shaping = 2.0
export(float) var baseline_tau = 5.0
# Distance (px) at which the nose reads 0.
export(float) var nose_range = 500.0
export(Rect2) var arena = Rect2(0, 0, 1600, 1000)
export(int) var exchanges_to_run = 0
export(float) var time_limit = 0.0
export(int) var arena_seed = 1
# Drop the connection (SpikeforgeWorld.drop_connection) after this many exchanges (0: never).
export(int) var drop_at = 0
# >= 0: step the world from here with this frame time instead of the physics delta.
export(float) var frame_dt_override = -1.0

var rng = RandomNumberGenerator.new()
var foragers = []
var record: File = null
var timing_rows = []
var sessions = {}
var online_exchanges = 0
# Sessions started so far (a server restart starts a new one; a resume does not).
var fresh_sessions = 0
var start_msec = 0
var headless = OS.get_name() == "Server"
var learning = true
var frames = 0
var foods = []
var inner_wall = Rect2()
# Microseconds main.gd spent per frame computing senses and rewards (outside the adapter).
var scene_sense_us = []

onready var world = $SpikeforgeWorld


func _enter_tree() -> void:
	# environment overrides, applied before SpikeforgeWorld._ready connects
	var w = $SpikeforgeWorld
	if OS.get_environment("SPIKEFORGE_PORT") != "":
		w.port = int(OS.get_environment("SPIKEFORGE_PORT"))
	if OS.get_environment("SPIKEFORGE_TOKEN_FILE") != "":
		w.token_file = OS.get_environment("SPIKEFORGE_TOKEN_FILE")
	if OS.get_environment("SPIKEFORGE_AGENTS") != "":
		agents = int(OS.get_environment("SPIKEFORGE_AGENTS"))
	if OS.get_environment("SPIKEFORGE_EXCHANGES") != "":
		exchanges_to_run = int(OS.get_environment("SPIKEFORGE_EXCHANGES"))
	if OS.get_environment("SPIKEFORGE_TIME_LIMIT") != "":
		time_limit = float(OS.get_environment("SPIKEFORGE_TIME_LIMIT"))
	if OS.get_environment("SPIKEFORGE_SEED") != "":
		arena_seed = int(OS.get_environment("SPIKEFORGE_SEED"))
	if OS.get_environment("SPIKEFORGE_FRAME_DT") != "":
		# drive the world by hand with this frame time (0 = exchange without simulation)
		frame_dt_override = float(OS.get_environment("SPIKEFORGE_FRAME_DT"))
		w.step_in_physics = false
	if OS.get_environment("SPIKEFORGE_LEARNING") == "0":
		learning = false
	if OS.get_environment("SPIKEFORGE_DROP_AT") != "":
		drop_at = int(OS.get_environment("SPIKEFORGE_DROP_AT"))
	if OS.get_environment("SPIKEFORGE_LAUNCH") != "":
		w.launch_server = true
		w.server_command = OS.get_environment("SPIKEFORGE_LAUNCH")
		w.server_arguments = PoolStringArray(OS.get_environment("SPIKEFORGE_LAUNCH_ARGS").split(" ", false))
	if OS.get_environment("SPIKEFORGE_REPLY_TIMEOUT") != "":
		w.reply_timeout = float(OS.get_environment("SPIKEFORGE_REPLY_TIMEOUT"))
	var record_path = OS.get_environment("SPIKEFORGE_RECORD")
	if record_path != "":
		record = File.new()
		if record.open(record_path, File.WRITE) != OK:
			push_error("cannot write the record file %s" % record_path)
			record = null


func _ready() -> void:
	start_msec = OS.get_ticks_msec()
	rng.seed = arena_seed
	_build_walls()
	for _i in food_count:
		var food = Area2D.new()
		food.set_script(FoodScript)
		food.collision_layer = 2
		food.collision_mask = 4
		var shape = CollisionShape2D.new()
		shape.shape = CircleShape2D.new()
		shape.shape.radius = food_radius
		food.add_child(shape)
		food.rng = rng
		food.arena = arena
		food.avoid = inner_wall
		food.radius = food_radius
		add_child(food)
		food.relocate()
		foods.append(food)
	for i in agents:
		var f = ForagerScene.instance()
		f.name = "Forager%03d" % i
		f.position = Vector2(rng.randf_range(arena.position.x + 40, arena.end.x - 40),
			rng.randf_range(arena.position.y + 40, arena.end.y - 40))
		f.rotation = rng.randf_range(-PI, PI)
		var fast = OS.get_environment("SPIKEFORGE_MIXED") == "1" and i % 2 == 1
		if fast:  # two breeds, two circuits; only the first breed listens to its spikes
			f.get_node("BrainAgent").genome_file = "res://brains/forager_fast.json"
		if OS.get_environment("SPIKEFORGE_SPIKES") == "0" or fast:  # no SpikeSignal node
			var spikes = f.get_node("MotorSpikes")
			f.remove_child(spikes)
			spikes.free()
		f.get_node("Explore").set_values(PoolRealArray([1.0, 1.0]))
		add_child(f)
		foragers.append(f)
	_sense(false)
	world.connect("exchanged", self, "_on_exchanged")
	world.connect("connected", self, "_on_connected")
	if world.is_online():
		fresh_sessions = 1
		if not learning:
			world.set_learning(false)  # also applied to the brains spawned on the first frame


func _on_connected(resumed: bool) -> void:
	print("SPIKEFORGE_CONNECTED resumed=%s" % resumed)
	if not resumed:
		fresh_sessions += 1


func _build_walls() -> void:
	var t = 20.0
	var r = arena
	inner_wall = Rect2(r.position.x + r.size.x * 0.45, r.position.y + r.size.y * 0.3, 40, r.size.y * 0.4)
	var rects = [
		Rect2(r.position.x - t, r.position.y - t, r.size.x + 2 * t, t),
		Rect2(r.position.x - t, r.end.y, r.size.x + 2 * t, t),
		Rect2(r.position.x - t, r.position.y, t, r.size.y),
		Rect2(r.end.x, r.position.y, t, r.size.y),
		inner_wall,
	]
	for rect in rects:
		var body = StaticBody2D.new()
		body.collision_layer = 1
		body.collision_mask = 0
		var shape = CollisionShape2D.new()
		shape.shape = RectangleShape2D.new()
		shape.shape.extents = rect.size / 2.0
		body.position = rect.position + rect.size / 2.0
		body.add_child(shape)
		add_child(body)


func _on_exchanged(result: Dictionary) -> void:
	online_exchanges += 1
	var session = fresh_sessions
	sessions[session] = sessions.get(session, 0) + 1
	timing_rows.append(world.timings.duplicate())
	if record != null:
		record.store_32(0x31434552)  # "REC1"
		record.store_32(session)
		record.store_32(int(result["epoch"]))
		record.store_32(int(result["steps"]))
		record.store_double(world.last_frame_dt)
		record.store_32(world.last_sensors.size())
		record.store_buffer(Proto.floats_to_bytes(world.last_sensors))
		record.store_32(world.last_reward_ids.size())
		for id in world.last_reward_ids:
			record.store_32(id)
		record.store_buffer(Proto.floats_to_bytes(world.last_rewards))
		var spikes = 0
		for f in foragers:
			spikes += f.motor_spikes
			f.motor_spikes = 0
		record.store_32(spikes)
		var act = result["actuators"]
		record.store_32(act.size())
		record.store_buffer(Proto.floats_to_bytes(act))
	if drop_at > 0 and online_exchanges == drop_at:
		world.drop_connection()
	if online_exchanges % 100 == 0:
		print("SPIKEFORGE_PROGRESS %d %d" % [online_exchanges, session])


func _sense(reward: bool) -> void:
	# eye, nose (and, with `reward`, the reward for the last frame) of every forager
	var dt = world.fixed_frame_dt if world.fixed_frame_dt > 0.0 else 1.0 / 60.0
	var k = dt / baseline_tau
	for f in foragers:
		var best = INF
		var nearest = Vector2.ZERO
		for food in foods:
			var d = food.position - f.position
			var dd = d.length_squared()
			if dd < best:
				best = dd
				nearest = d
		var angle = wrapf(nearest.angle() - f.rotation, -PI, PI)
		f.get_node("Eye").set_value(0, angle / PI)
		f.get_node("Nose").set_value(0, clamp(1.0 - sqrt(best) / nose_range, 0.0, 1.0))
		if reward:
			var gain = abs(f.last_angle) - abs(angle)
			if abs(gain) >= 1.0:  # the nearest food changed: no shaping
				gain = 0.0
			var r = f.eaten_unrewarded + shaping * gain
			f.eaten_unrewarded = 0
			var da = r - f.baseline
			f.baseline += k * (r - f.baseline)
			if learning:
				f.get_node("BrainAgent").add_reward(da)
		f.last_angle = angle


func _physics_process(_delta: float) -> void:
	frames += 1
	var t0 = OS.get_ticks_usec()
	_sense(true)
	scene_sense_us.append(OS.get_ticks_usec() - t0)
	if frames % 600 == 0:
		var eaten = 0
		for f in foragers:
			eaten += f.eaten
		var contact = 0
		for f in foragers:
			contact += f.get_node("Wheels").contact_frames
		print("SPIKEFORGE_FOOD %d %d %d" % [frames, eaten, contact])
	if frame_dt_override >= 0.0:
		world.step(frame_dt_override)
	if not headless:
		for f in foragers:
			f.update()
	var over_time = time_limit > 0.0 and (OS.get_ticks_msec() - start_msec) > time_limit * 1000.0
	if (exchanges_to_run > 0 and online_exchanges >= exchanges_to_run) or over_time:
		_finish(over_time)


func _finish(timed_out: bool) -> void:
	set_physics_process(false)
	if record != null:
		record.close()
	var eaten = 0
	for f in foragers:
		eaten += f.eaten
	var summary = {
		"exchanges": online_exchanges, "timed_out": timed_out, "agents": foragers.size(),
		"sessions": sessions, "eaten": eaten, "timings": _timing_summary(),
		"brains": _brain_count(), "frames": frames, "learning": learning,
	}
	world.stop()
	print("SPIKEFORGE_DONE " + JSON.print(summary))
	get_tree().quit(0)


func _brain_count() -> int:
	var n = 0
	for f in foragers:
		if f.get_node("BrainAgent").brain_id >= 0:
			n += 1
	return n


func _timing_summary() -> Dictionary:
	var out = {}
	for key in ["sense", "read", "io", "wait", "act", "apply", "sim", "total", "exchange", "gdscript"]:
		var values = []
		for row in timing_rows:
			values.append(row.get(key, 0))
		out[key] = _stats(values)
	var net = []
	for row in timing_rows:
		net.append(row.get("io", 0) - row.get("sim", 0))
	out["io_minus_sim"] = _stats(net)
	out["scene_sense"] = _stats(scene_sense_us.duplicate())
	return out


func _stats(values: Array) -> Dictionary:
	if values.empty():
		return {}
	values.sort()
	var n = values.size()
	var total = 0
	for v in values:
		total += v
	return {"median": values[n / 2], "p95": values[min(n - 1, int(n * 0.95))],
		"mean": float(total) / n, "max": values[n - 1]}
