extends Node2D
## Foragers arena: walls, food and foragers; the SpikeforgeWorld child gives every
## forager a spiking brain and runs one exchange per physics frame for all of them.
##
## Every physics frame, before the exchange, the arena computes each forager's senses as
## the Python foragers game does: the angle of the nearest food relative to the heading
## (ValueSensor "eye", angle / pi in [-1, 1]) and how close it is (ValueSensor "nose",
## 1 - distance / [member nose_range]); "explore" is held at 1 (exploration noise). With
## [member SpikeforgeWorld.learning] on it sends each brain a reward: 1 per food item
## eaten plus [member shaping] per radian turned toward the nearest food, minus a
## running-average baseline. The brains have no innate food reflex: they learn to steer.

##
## Settings come from the exported variables, or from environment variables (used by the
## end-to-end tests, tests/integration/test_godot4_e2e.py, and by
## [code]spikeforge bench godot[/code]):
## [codeblock]
## SPIKEFORGE_PORT, SPIKEFORGE_TOKEN_FILE  server to connect to
## SPIKEFORGE_AGENTS                       number of foragers
## SPIKEFORGE_EXCHANGES                    quit after this many exchanges (0: run on)
## SPIKEFORGE_TIME_LIMIT                   quit after this many seconds (wall clock)
## SPIKEFORGE_RECORD                       file to record every exchange into
## SPIKEFORGE_SEED                         seed of the arena's own random layout
## SPIKEFORGE_DROP_AT                      drop the connection after N exchanges
## SPIKEFORGE_FRAME_DT                     step with this frame time (s); 0 = no simulation
## SPIKEFORGE_LEARNING                     0: switch plasticity off for this client's brains
## SPIKEFORGE_SPIKES                       0: remove the foragers' SpikeSignal nodes
## SPIKEFORGE_MIXED                        1: every other forager gets the forager_fast
##                                         brain (and no SpikeSignal)
## SPIKEFORGE_LAUNCH, SPIKEFORGE_LAUNCH_ARGS  let SpikeforgeWorld start `spikeforge serve`
## SPIKEFORGE_REPLY_TIMEOUT                SpikeforgeWorld.reply_timeout (s)
## [/codeblock]
## It prints "SPIKEFORGE_FOOD <frame> <food eaten so far> <forager-frames touching a wall
## so far>" every 600 physics frames, "SPIKEFORGE_PROGRESS <exchanges> <session number>"
## every 100 exchanges and "SPIKEFORGE_DONE <json>" (counts and timings) at the end.

const Forager = preload("res://forager.gd")
const ForagerScene: PackedScene = preload("res://forager.tscn")
const FoodScript: Script = preload("res://food.gd")

## Number of foragers.
@export_range(1, 1000) var agents: int = 100
## Number of food pellets in the arena.
@export_range(1, 500) var food_count: int = 64
## Radius of a food pellet (px).
@export var food_radius: float = 20.0
## The arena rectangle, in pixels.
@export var arena: Rect2 = Rect2(0, 0, 1600, 1000)
## Seed of the arena's own random layout (not of the brains).
@export var arena_seed: int = 1
## Reward per radian of turn toward the nearest food (shaping).
@export var shaping: float = 2.0
## Time constant (s) of the running-average reward baseline.
@export var baseline_tau: float = 5.0
## Distance (px) at which the nose reads 0.
@export var nose_range: float = 500.0
## Quit after this many exchanges (0: run on).
@export var exchanges_to_run: int = 0
## Quit after this many seconds of wall-clock time (0: run on).
@export var time_limit: float = 0.0
## Drop the connection ([method SpikeforgeWorld.drop_connection]) after this many
## exchanges (0: never).
@export var drop_at: int = 0
## >= 0: step the world from here with this frame time (s) instead of the physics delta.
@export var frame_dt_override: float = -1.0

var _rng := RandomNumberGenerator.new()
var _foragers: Array[Forager] = []
var _foods: Array[Node2D] = []
var _inner_wall: Rect2 = Rect2()
var _eaten_window: Array[int] = []
var _record: FileAccess = null
var _timing_rows: Array[Dictionary] = []
var _sessions: Dictionary = {}
var _online_exchanges: int = 0
# Sessions started so far (a server restart starts a new one; a resume does not).
var _fresh_sessions: int = 0
var _start_msec: int = 0
var _frames: int = 0
var _finished: bool = false
# Microseconds spent per frame computing senses and rewards (outside the adapter).
var _scene_sense_us: Array[int] = []

@onready var world: SpikeforgeWorld = $SpikeforgeWorld
@onready var hud: Label = $Hud


func _enter_tree() -> void:
	# environment overrides, applied before SpikeforgeWorld._ready connects
	var w := $SpikeforgeWorld as SpikeforgeWorld
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
		w.learning = false
	if OS.get_environment("SPIKEFORGE_DROP_AT") != "":
		drop_at = int(OS.get_environment("SPIKEFORGE_DROP_AT"))
	if OS.get_environment("SPIKEFORGE_LAUNCH") != "":
		w.launch_server = true
		w.server_command = OS.get_environment("SPIKEFORGE_LAUNCH")
		w.server_arguments = OS.get_environment("SPIKEFORGE_LAUNCH_ARGS").split(" ", false)
	if OS.get_environment("SPIKEFORGE_REPLY_TIMEOUT") != "":
		w.reply_timeout = float(OS.get_environment("SPIKEFORGE_REPLY_TIMEOUT"))
	var record_path := OS.get_environment("SPIKEFORGE_RECORD")
	if record_path != "":
		_record = FileAccess.open(record_path, FileAccess.WRITE)
		if _record == null:
			push_error("cannot write the record file %s" % record_path)


func _ready() -> void:
	_start_msec = Time.get_ticks_msec()
	_rng.seed = arena_seed
	_build_walls()
	for i in food_count:
		var food := Area2D.new()
		food.set_script(FoodScript)
		food.collision_layer = 2
		food.collision_mask = 4
		var shape := CollisionShape2D.new()
		var circle := CircleShape2D.new()
		circle.radius = food_radius
		shape.shape = circle
		food.add_child(shape)
		food.set(&"rng", _rng)
		food.set(&"arena", arena)
		food.set(&"avoid", _inner_wall)
		food.set(&"radius", food_radius)
		add_child(food)
		food.call(&"relocate")
		_foods.append(food)
	for i in agents:
		var f := ForagerScene.instantiate() as Forager
		f.name = "Forager%03d" % i
		f.position = Vector2(
			_rng.randf_range(arena.position.x + 40, arena.end.x - 40),
			_rng.randf_range(arena.position.y + 40, arena.end.y - 40)
		)
		f.rotation = _rng.randf_range(-PI, PI)
		var fast := OS.get_environment("SPIKEFORGE_MIXED") == "1" and i % 2 == 1
		if fast:  # two breeds, two circuits; only the first breed listens to its spikes
			(f.get_node(^"BrainAgent") as BrainAgent).genome_file = "res://brains/forager_fast.json"
		if OS.get_environment("SPIKEFORGE_SPIKES") == "0" or fast:  # no SpikeSignal node
			var spikes := f.get_node(^"MotorSpikes")
			f.remove_child(spikes)
			spikes.free()
		add_child(f)
		_foragers.append(f)
	world.exchanged.connect(_on_exchanged)
	world.connected.connect(_on_connected)
	if world.is_online():
		_fresh_sessions = 1
	_sense(false)


func _physics_process(_delta: float) -> void:
	# runs before the SpikeforgeWorld child's own _physics_process (the exchange)
	if _finished:
		return
	_frames += 1
	var t0 := Time.get_ticks_usec()
	_sense(true)
	_scene_sense_us.append(Time.get_ticks_usec() - t0)
	if _frames % 600 == 0:
		var eaten := 0
		var contact := 0
		for f in _foragers:
			eaten += f.eaten
			contact += int(f.get_node(^"Wheels").get(&"contact_frames"))
		print("SPIKEFORGE_FOOD %d %d %d" % [_frames, eaten, contact])
	if frame_dt_override >= 0.0:
		world.step(frame_dt_override)
	var over_time := (
		time_limit > 0.0 and (Time.get_ticks_msec() - _start_msec) > time_limit * 1000.0
	)
	if (exchanges_to_run > 0 and _online_exchanges >= exchanges_to_run) or over_time:
		_finish(over_time)


## Eye and nose of every forager and, with [param reward], the reward for the last frame.
func _sense(reward: bool) -> void:
	var dt := world.fixed_frame_dt if world.fixed_frame_dt > 0.0 else 1.0 / 60.0
	var k := dt / baseline_tau
	for f in _foragers:
		var best := INF
		var nearest := Vector2.ZERO
		for food in _foods:
			var d := food.position - f.position
			var dd := d.length_squared()
			if dd < best:
				best = dd
				nearest = d
		var angle := wrapf(nearest.angle() - f.rotation, -PI, PI)
		f.eye.set_value(0, angle / PI)
		f.nose.set_value(0, clampf(1.0 - sqrt(best) / nose_range, 0.0, 1.0))
		if reward:
			var gain := absf(f.last_angle) - absf(angle)
			if absf(gain) >= 1.0:  # the nearest food changed: no shaping
				gain = 0.0
			var r := f.eaten_unrewarded + shaping * gain
			f.eaten_unrewarded = 0
			var da := r - f.baseline
			f.baseline += k * (r - f.baseline)
			if world.learning:
				f.agent.add_reward(da)
		f.last_angle = angle


func _on_connected(resumed: bool) -> void:
	print("SPIKEFORGE_CONNECTED resumed=%s" % resumed)
	if not resumed:
		_fresh_sessions += 1


func _on_exchanged(result: Dictionary) -> void:
	_online_exchanges += 1
	var session := _fresh_sessions
	_sessions[session] = int(_sessions.get(session, 0)) + 1
	_timing_rows.append(world.timings.duplicate())
	var spikes := 0
	for f in _foragers:
		spikes += f.motor_spikes
		f.motor_spikes = 0
	if _record != null:
		_write_record(session, result, spikes)
	if drop_at > 0 and _online_exchanges == drop_at:
		world.drop_connection()
	if _online_exchanges % 100 == 0:
		print("SPIKEFORGE_PROGRESS %d %d" % [_online_exchanges, session])
	if world.exchanges % 60 == 0:
		_update_hud()


# One exchange as this side saw it (read by tests/integration/godot_support/harness.py).
func _write_record(session: int, result: Dictionary, spikes: int) -> void:
	_record.store_32(0x31434552)  # "REC1"
	_record.store_32(session)
	_record.store_32(int(result["epoch"]))
	_record.store_32(int(result["steps"]))
	_record.store_double(world.last_frame_dt)
	_record.store_32(world.last_sensors.size())
	_record.store_buffer(world.last_sensors.to_byte_array())
	_record.store_32(world.last_reward_ids.size())
	for id in world.last_reward_ids:
		_record.store_32(id)
	_record.store_buffer(world.last_rewards.to_byte_array())
	_record.store_32(spikes)
	var act: PackedFloat32Array = result["actuators"]
	_record.store_32(act.size())
	_record.store_buffer(act.to_byte_array())


func _finish(timed_out: bool) -> void:
	_finished = true
	if _record != null:
		_record.close()
	var eaten := 0
	var brains := 0
	for f in _foragers:
		eaten += f.eaten
		if f.agent.brain_id >= 0:
			brains += 1
	var summary := {
		"exchanges": _online_exchanges, "timed_out": timed_out, "agents": _foragers.size(),
		"sessions": _sessions, "eaten": eaten, "timings": _timing_summary(), "brains": brains,
		"frames": _frames, "learning": world.learning,
	}
	world.stop()
	print("SPIKEFORGE_DONE " + JSON.stringify(summary))
	get_tree().quit(0)


func _timing_summary() -> Dictionary:
	var out := {}
	for key: String in [
		"sense", "read", "io", "wait", "act", "apply", "sim", "total", "exchange", "gdscript"
	]:
		var values: Array[int] = []
		for row in _timing_rows:
			values.append(int(row.get(key, 0)))
		out[key] = _stats(values)
	var net: Array[int] = []
	for row in _timing_rows:
		net.append(int(row.get("io", 0)) - int(row.get("sim", 0)))
	out["io_minus_sim"] = _stats(net)
	out["scene_sense"] = _stats(_scene_sense_us.duplicate())
	return out


func _stats(values: Array[int]) -> Dictionary:
	if values.is_empty():
		return {}
	values.sort()
	var n := values.size()
	var total := 0
	for v in values:
		total += v
	return {
		"median": values[n / 2], "p95": values[mini(n - 1, int(n * 0.95))],
		"mean": float(total) / n, "max": values[n - 1]
	}


func _update_hud() -> void:
	var eaten := 0
	for f in _foragers:
		eaten += f.eaten
	_eaten_window.append(eaten)
	if _eaten_window.size() > 11:
		_eaten_window.pop_front()
	var per_minute := 0.0
	if _eaten_window.size() > 1:
		per_minute = 60.0 * (_eaten_window[-1] - _eaten_window[0]) / (_eaten_window.size() - 1)
	var t: Dictionary = world.timings
	hud.text = (
		(
			"foragers %d   food eaten %d   (%.1f / forager / min, learning %s)\n"
			% [_foragers.size(), eaten, per_minute / maxi(1, _foragers.size()), world.learning]
		)
		+ (
			"exchange %d µs   server sim %d µs   frame %d µs"
			% [t.get("exchange", 0), t.get("sim", 0), t.get("total", 0)]
		)
	)


func _build_walls() -> void:
	var t := 20.0
	var r := arena
	_inner_wall = Rect2(
		r.position.x + r.size.x * 0.45, r.position.y + r.size.y * 0.3, 40, r.size.y * 0.4
	)
	var rects: Array[Rect2] = [
		Rect2(r.position.x - t, r.position.y - t, r.size.x + 2 * t, t),
		Rect2(r.position.x - t, r.end.y, r.size.x + 2 * t, t),
		Rect2(r.position.x - t, r.position.y, t, r.size.y),
		Rect2(r.end.x, r.position.y, t, r.size.y),
		_inner_wall,
	]
	for rect in rects:
		var body := StaticBody2D.new()
		body.collision_layer = 1
		body.collision_mask = 0
		var shape := CollisionShape2D.new()
		var box := RectangleShape2D.new()
		box.size = rect.size
		shape.shape = box
		body.position = rect.get_center()
		body.add_child(shape)
		var poly := Polygon2D.new()
		poly.color = Color(0.35, 0.35, 0.4)
		poly.polygon = PackedVector2Array(
			[
				-rect.size / 2,
				Vector2(rect.size.x, -rect.size.y) / 2,
				rect.size / 2,
				Vector2(-rect.size.x, rect.size.y) / 2
			]
		)
		body.add_child(poly)
		add_child(body)
