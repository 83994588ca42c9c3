@icon("res://addons/spikeforge/icons/spikeforge_world.svg")
class_name SpikeforgeWorld
extends Node
## The one sync node of a scene: connects to (or launches) [code]spikeforge serve[/code],
## spawns a brain for every [BrainAgent], and runs ONE exchange per physics frame for
## all agents (sensors in, [code]advance(frame_dt)[/code] on the server, actuators out).
##
## Per physics frame: agents that appeared get brains (one SPAWN per circuit), agents
## that left the tree lose theirs (one DESPAWN), then every agent's sensor nodes are read
## into one float array in the server's layout order, pending rewards are sent, the
## exchange runs, and each actuator node receives its slice of the outputs. When the
## connection drops, the node retries every [member reconnect_interval] seconds: if the
## server still holds the session (grace period) the brains resume exactly where they
## were; if the server restarted, every agent gets a fresh brain.

## Emitted after a successful handshake; [param resumed] is true if the old session
## (with its brains) was taken back.
signal connected(resumed: bool)
## Emitted when the connection is lost or closed.
signal disconnected(reason: String)
## Emitted after every exchange with its decoded result (steps, alpha, sim_us, ...).
signal exchanged(result: Dictionary)

## Server address (loopback unless the server was started with --allow-remote).
@export var host: String = "127.0.0.1"
## Server TCP port.
@export_range(1, 65535) var port: int = SpikeforgeProtocol.DEFAULT_PORT
## Token file written by the server; empty means ~/.spikeforge/server.token.
@export_global_file var token_file: String = ""
## Name this client reports to the server (logs and stats).
@export var client_name: String = "godot"
## Connect (and spawn brains) as soon as the node is ready.
@export var auto_start: bool = true
## Start `spikeforge serve` as a child process (with this port and token file) on start.
@export var launch_server: bool = false
## Command that runs spikeforge (e.g. a venv's bin/spikeforge) when launching the server.
@export var server_command: String = "spikeforge"
## Extra arguments for `spikeforge serve` (e.g. "--seed", "7", "--genome", "/path").
@export var server_arguments: PackedStringArray = PackedStringArray()
## Seconds to keep trying the first connection (a launched server needs time to start).
@export_range(0.1, 120.0, 0.1, "suffix:s") var connect_timeout: float = 15.0
## Seconds between reconnection attempts after the connection was lost.
@export_range(0.05, 60.0, 0.05, "suffix:s") var reconnect_interval: float = 1.0
## Seconds to wait for any single reply before the connection is considered dead.
@export_range(0.1, 120.0, 0.1, "suffix:s") var reply_timeout: float = 10.0
## Game time per exchange in seconds; 0 uses the physics frame's delta.
@export var fixed_frame_dt: float = 0.0
## Run exchanges from _physics_process; turn off to call [method step] yourself.
@export var step_in_physics: bool = true
## Plasticity of this client's brains; off freezes their weights (also for brains
## spawned later: it is sent again after every spawn). Change it with [method set_learning].
@export var learning: bool = true
## Seconds without any frame sent after which a PING keeps the connection alive, also
## while the scene tree is paused (a pause menu) or no exchange runs: the server closes a
## connection silent for its [code]--idle-timeout[/code] (300 s by default) and the brains
## are lost unless the game reconnects within the grace period. 0 turns it off. A server
## that announces a shorter idle timeout (protocol 1.1) lowers it to half of that, see
## [member keepalive_period].
@export_range(0.0, 3600.0, 0.5, "suffix:s") var keepalive_interval: float = 30.0

## Last LAYOUT from the server (see PROTOCOL.md).
var layout: Dictionary = {}
## Circuits known to this node, by name (from CIRCUITS replies).
var circuits: Dictionary = {}
## Microseconds spent by the last step: "sense" (reading sensor nodes + packing), "read"
## (inside the sensor nodes' get_values), "io" (encode, round trip, decode), "act"
## (slicing outputs + actuator nodes), "apply" (inside apply_outputs), "wait" (from the
## request sent to the reply read: wire + server), "sim" (server simulation), "total";
## "exchange" = total - read - apply - sim: the cost of the exchange itself, GDScript
## side included, without scene work and simulation; "gdscript" = total - read - apply
## - wait: the adapter's own GDScript work (packing, encoding, decoding, slicing).
var timings: Dictionary = {}
## Exchanges done since start.
var exchanges: int = 0
## The sensor array sent by the last exchange (layout order).
var last_sensors: PackedFloat32Array = PackedFloat32Array()
## The frame time (s) sent by the last exchange.
var last_frame_dt: float = 0.0
## Brain ids of the rewards sent with the last exchange (empty if none).
var last_reward_ids: PackedInt32Array = PackedInt32Array()
## Rewards sent with the last exchange, one per id in [member last_reward_ids].
var last_rewards: PackedFloat32Array = PackedFloat32Array()
## PINGs sent by the keepalive (see [member keepalive_interval]).
var keepalives: int = 0
## Brains despawned after resumes because they were a spawn's whose reply was lost with
## the connection (the session held them, this node never learned their ids; PROTOCOL.md
## section 6, "Reconcile after a resume"). Their agents got new brains.
var reconciled_brains: int = 0
## Subscriptions unsubscribed after resumes because a SUBSCRIBE's reply was lost with the
## connection (protocol 1.2, PROTOCOL.md section 6): the session held a subscription this
## world did not know. The world subscribed its listeners again.
var reconciled_subscriptions: int = 0
## The server's idle timeout in seconds as its WELCOME announced it (protocol 1.1): 0 = the
## server never drops an idle connection, -1 = unknown (not connected yet, or a 1.0 server).
var idle_timeout: float:
	get:
		return float(_client.welcome.get("idle_timeout_s", -1.0))
## Seconds without a sent frame after which the keepalive pings: [member keepalive_interval]
## lowered to half of [member idle_timeout], not below 1 s on that account; 0 = off.
var keepalive_period: float:
	get:
		return SpikeforgeProtocol.keepalive_interval(keepalive_interval, idle_timeout)

var _client: SpikeforgeClient = SpikeforgeClient.new()
var _agents_by_id: Dictionary = {}
var _uploaded: Dictionary = {}
var _sensor_plan: Array = []
var _actuator_plan: Array = []
var _spike_nodes: Dictionary = {}
var _subscriptions: Dictionary = {}
var _failed_subscriptions: Dictionary = {}
var _sub_of: Dictionary = {}
var _rewards_supported: bool = true
var _sensor_floats: int = 0
var _bad_sensors: Dictionary = {}
var _reward_error_reported: bool = false
var _server_pid: int = -1
var _retry_at_msec: int = 0
var _started: bool = false
var _in_step: bool = false


func _ready() -> void:
	if auto_start and not Engine.is_editor_hint():
		start()


func _enter_tree() -> void:
	# SceneTree.process_frame is emitted every frame, also while the tree is paused (this
	# node's own callbacks are not, and must not be: no exchange runs during a pause)
	if not Engine.is_editor_hint() and not get_tree().process_frame.is_connected(_keepalive_tick):
		get_tree().process_frame.connect(_keepalive_tick)


func _exit_tree() -> void:
	if get_tree().process_frame.is_connected(_keepalive_tick):
		get_tree().process_frame.disconnect(_keepalive_tick)
	stop()


func _physics_process(delta: float) -> void:
	if step_in_physics and _started:
		step(fixed_frame_dt if fixed_frame_dt > 0.0 else delta)


## Launch the server if asked, connect and handshake (blocking up to connect_timeout).
func start() -> bool:
	_started = true
	if launch_server and _server_pid < 0:
		var args := PackedStringArray(["serve", "--port", str(port), "--token-file", _token_path()])
		args.append_array(server_arguments)
		_server_pid = OS.create_process(server_command, args)
		if _server_pid < 0:
			push_error("SpikeforgeWorld: could not start %s %s" % [server_command, " ".join(args)])
	return _connect(connect_timeout, "")


## Say BYE (brains are despawned), close, and stop a server this node launched.
func stop() -> void:
	if _client.is_connected_to_server():
		_client.bye(false)
	_started = false
	if _server_pid > 0:
		OS.kill(_server_pid)
		_server_pid = -1


## Close the socket without BYE, as if the network dropped (to test a game's handling
## of it). The next frames reconnect and resume the session: the brains are kept by
## the server for its grace period and did not advance meanwhile.
func drop_connection() -> void:
	if _client.is_connected_to_server():
		_client.close()
		_lost("dropped by drop_connection()")


## True while connected to the server.
func is_online() -> bool:
	return _client.is_connected_to_server()


## The server's WELCOME (session id, dt, max_substeps, ...).
func session() -> Dictionary:
	return _client.welcome


## Switch plasticity on or off for this client's brains (now and spawned later); false
## if the server refused (no learning in its World) or is not connected.
func set_learning(enabled: bool) -> bool:
	learning = enabled
	if not _client.is_connected_to_server():
		return false
	var reply := _client.request(SpikeforgeProtocol.set_learning(_client.next_seq(), enabled))
	if reply.has("error"):
		push_warning("SpikeforgeWorld: set_learning: %s" % reply["error"])
		return false
	return true


## Save a snapshot of the whole World on the server under [param snapshot_name].
func save_snapshot(snapshot_name: String) -> bool:
	var seq := _client.next_seq()
	var reply := _client.request(SpikeforgeProtocol.snapshot(seq, snapshot_name, false))
	if reply.has("error"):
		push_error("SpikeforgeWorld: save %s: %s" % [snapshot_name, reply["error"]])
		return false
	return true


## One of this client's brains as a brain file: the bytes Python's [code]Brain.save[/code]
## writes (versioned, checksummed). Keep them as a game asset (e.g. store them in a
## [code].sfbrain[/code] file with [method FileAccess.store_buffer]) and spawn them later,
## in this or another scene, server or engine, with [method spawn_from_asset] or a
## [BrainAgent]'s [member BrainAgent.brain_asset_file]. [param with_state] true includes
## the brain's state and random stream (it continues bit-exactly); false keeps the wiring,
## weights and learned thresholds only. Empty on error (pushed; [code]NOT_OWNER[/code] for
## another client's brain).
func export_brain_asset(brain_id: int, with_state: bool = true) -> PackedByteArray:
	if not _client.is_connected_to_server():
		push_error("SpikeforgeWorld: export_brain_asset: not connected")
		return PackedByteArray()
	var seq := _client.next_seq()
	var reply := _client.request(SpikeforgeProtocol.export_brain(seq, brain_id, with_state))
	if reply.has("error"):
		push_error("SpikeforgeWorld: export brain %d: %s" % [brain_id, reply["error"]])
		return PackedByteArray()
	var asset := SpikeforgeProtocol.decode_brain_asset(reply["payload"])
	if asset.has("error"):
		push_error("SpikeforgeWorld: export brain %d: %s" % [brain_id, asset["error"]])
		return PackedByteArray()
	return asset["data"]


## Spawn one brain from a brain file's bytes ([method export_brain_asset], or a file
## written by Python's [code]Brain.save[/code]) and give it to [param agent] (which must
## have no brain yet). With [param agent] null the brain is this client's but has no
## body: it runs on zero input until [method stop]. [param with_state] false starts it
## fresh with the saved wiring, weights and thresholds. Returns the brain id, or -1 on
## error (pushed: a corrupt, truncated or other-version file, another dt, a limit; nothing
## is spawned then).
func spawn_from_asset(
	data: PackedByteArray, agent: BrainAgent = null, with_state: bool = true
) -> int:
	if not _client.is_connected_to_server():
		push_error("SpikeforgeWorld: spawn_from_asset: not connected")
		return -1
	if agent != null and agent.brain_id >= 0:
		push_error(
			"SpikeforgeWorld: spawn_from_asset: %s already has brain %d" % [agent.name, agent.brain_id]
		)
		return -1
	var id := _spawn_asset(data, agent, with_state)
	if id >= 0:
		_ensure_subscriptions()
	return id


func _spawn_asset(data: PackedByteArray, agent: BrainAgent, with_state: bool) -> int:
	var reply := _client.request(SpikeforgeProtocol.spawn_asset(_client.next_seq(), data, with_state))
	if reply.has("error"):
		push_error("SpikeforgeWorld: spawn from asset: %s" % reply["error"])
		return -1
	var spawned := SpikeforgeProtocol.decode_spawned(reply["payload"])
	var ids: PackedInt32Array = spawned["brain_ids"]
	if ids.size() != 1:
		push_error("SpikeforgeWorld: spawn from asset: bad SPAWNED reply")
		return -1
	if agent != null:
		_agents_by_id[ids[0]] = agent
		agent.set_brain(ids[0])
	_set_layout(spawned["layout"])
	if not learning:
		_client.request(SpikeforgeProtocol.set_learning(_client.next_seq(), false))
	return ids[0]


## The server's STATS as a Dictionary (empty on error).
func server_stats() -> Dictionary:
	var seq := _client.next_seq()
	var reply := _client.request(SpikeforgeProtocol.empty(SpikeforgeProtocol.MSG_STATS, seq))
	if reply.has("error"):
		return {}
	return SpikeforgeProtocol.decode_stats(reply["payload"]).get("stats", {})


## One frame: sync agents, read sensors, exchange, apply actuators. Returns the decoded
## EXCHANGE_RESULT, or {"error": ...} (offline, or the exchange failed).
func step(frame_dt: float) -> Dictionary:
	if _in_step:
		push_error("SpikeforgeWorld.step was re-entered (from an actuator signal?); ignored")
		return {"error": "re-entered"}
	if not _client.is_connected_to_server():
		_maybe_reconnect()
		return {"error": "offline"}
	_in_step = true
	var result := _step(frame_dt)
	_in_step = false
	if result.has("error") and not _client.is_connected_to_server():
		_lost(String(result["error"]))
	return result


func _step(frame_dt: float) -> Dictionary:
	var sync := _sync_agents()
	if sync.has("error"):
		return sync
	var t0 := Time.get_ticks_usec()
	# read every sensor node first (scene work: raycasts...), then pack in layout order
	var read: Array[PackedFloat32Array] = []
	read.resize(_sensor_plan.size())
	for i in _sensor_plan.size():
		var node: Node = _sensor_plan[i][0]
		if node != null and is_instance_valid(node):
			read[i] = node.call(&"get_values")
	var t_read := Time.get_ticks_usec()
	var read_usec := t_read - t0
	var apply_usec := 0
	var sensors := PackedFloat32Array()
	for values in read:  # fast path: every sensor returned its organ's channel count
		sensors.append_array(values)
	if sensors.size() != _sensor_floats:
		sensors = _pack_checked(read)
	var t1 := Time.get_ticks_usec()
	last_sensors = sensors
	last_frame_dt = frame_dt
	var reward_sent := _send_rewards()
	var frame := SpikeforgeProtocol.exchange(
		_client.next_seq(), int(layout.get("epoch", 0)), frame_dt, sensors
	)
	if not _client.send(frame):
		return _client.last_error
	var w0 := Time.get_ticks_usec()
	if reward_sent:
		var ack := _client.receive()
		if ack.has("error"):
			if int(ack.get("code", 0)) == SpikeforgeProtocol.ERR_UNSUPPORTED:
				_rewards_supported = false
				push_warning("SpikeforgeWorld: the server has no reward input; rewards are dropped")
			elif not _client.is_connected_to_server():
				return ack
			elif not _reward_error_reported:
				_reward_error_reported = true
				push_warning("SpikeforgeWorld: the server refused a reward: %s" % ack["error"])
	var reply := _client.receive()
	if reply.has("error"):
		if int(reply.get("code", 0)) == SpikeforgeProtocol.ERR_STALE_LAYOUT:
			_refresh_layout()
		return reply
	var wait_usec := Time.get_ticks_usec() - w0
	var result := SpikeforgeProtocol.decode_exchange_result(reply["payload"])
	var t2 := Time.get_ticks_usec()
	var outputs: PackedFloat32Array = result.get("actuators", PackedFloat32Array())
	var parts: Array[PackedFloat32Array] = []
	parts.resize(_actuator_plan.size())
	for k in _actuator_plan.size():
		var offset: int = _actuator_plan[k][1]
		parts[k] = outputs.slice(offset, offset + int(_actuator_plan[k][2]))
	var a0 := Time.get_ticks_usec()
	for k in _actuator_plan.size():
		for node: Node in _actuator_plan[k][0]:
			if is_instance_valid(node):
				node.call(&"apply_outputs", parts[k], frame_dt)
	apply_usec = Time.get_ticks_usec() - a0
	_dispatch_spikes(result.get("batches", []))
	var t3 := Time.get_ticks_usec()
	exchanges += 1
	var sim := int(result.get("sim_us", 0))
	timings = {
		"sense": t1 - t0, "read": read_usec, "io": t2 - t1, "wait": wait_usec, "act": t3 - t2,
		"apply": apply_usec, "sim": sim, "total": t3 - t0,
		"exchange": (t3 - t0) - read_usec - apply_usec - sim,
		"gdscript": (t3 - t0) - read_usec - apply_usec - wait_usec
	}
	exchanged.emit(result)
	return result


# Slow path of the packing: place every sensor's values at its offset, padding or cutting
# values of the wrong length (and reporting each such sensor once).
func _pack_checked(read: Array[PackedFloat32Array]) -> PackedFloat32Array:
	var sensors := PackedFloat32Array()
	for i in _sensor_plan.size():
		var entry: Array = _sensor_plan[i]
		if sensors.size() != int(entry[1]):
			sensors.resize(int(entry[1]))
		var values: PackedFloat32Array = read[i]
		if values.size() != int(entry[2]):
			var node: Node = entry[0]
			if node != null and not _bad_sensors.has(node):
				_bad_sensors[node] = true
				push_error(
					"SpikeforgeWorld: sensor %s gave %d values, its organ has %d channels"
					% [node.get_path(), values.size(), int(entry[2])]
				)
			values.resize(int(entry[2]))
		sensors.append_array(values)
	sensors.resize(_sensor_floats)
	return sensors


func _send_rewards() -> bool:
	last_reward_ids = PackedInt32Array()
	last_rewards = PackedFloat32Array()
	if not _rewards_supported:
		return false
	var ids := PackedInt32Array()
	var rewards := PackedFloat32Array()
	# only the agents that got add_reward() since the last exchange are in this group
	for node in get_tree().get_nodes_in_group(&"spikeforge_rewarded"):
		var agent := node as BrainAgent
		if agent == null or agent.brain_id < 0:
			continue  # no brain yet: keep the reward for later
		agent.remove_from_group(&"spikeforge_rewarded")
		if agent.pending_reward != 0.0 and _agents_by_id.get(agent.brain_id) == agent:
			ids.append(agent.brain_id)
			rewards.append(agent.pending_reward)
			agent.pending_reward = 0.0
	if ids.is_empty():
		return false
	last_reward_ids = ids
	last_rewards = rewards
	return _client.send(SpikeforgeProtocol.reward(_client.next_seq(), ids, rewards))


# ------------------------------------------------------------------ agents and layout
func _live_agents() -> Array:
	var out := []
	for node in get_tree().get_nodes_in_group(&"spikeforge_agents"):
		if node is BrainAgent and node.is_inside_tree():
			out.append(node)
	return out


func _sync_agents() -> Dictionary:
	var agents := _live_agents()
	# brains whose agents are gone
	var gone := PackedInt32Array()
	for id: int in _agents_by_id:
		var agent: Variant = _agents_by_id[id]
		if not is_instance_valid(agent) or not (agent as Node).is_inside_tree():
			gone.append(id)
	if not gone.is_empty():
		for id in gone:
			_agents_by_id.erase(id)
		var reply := _client.request(SpikeforgeProtocol.despawn(_client.next_seq(), gone))
		if reply.has("error"):
			return reply
		_set_layout(SpikeforgeProtocol.decode_layout(reply["payload"]))
	# agents without a brain: from their brain asset file, else grouped by circuit
	var pending := {}
	var from_assets := false
	for agent: BrainAgent in agents:
		if agent.brain_id >= 0:
			continue
		if not agent.brain_asset_file.is_empty():
			var data := FileAccess.get_file_as_bytes(agent.brain_asset_file)
			if data.is_empty() or _spawn_asset(data, agent, agent.brain_asset_state) < 0:
				push_error("BrainAgent %s: cannot spawn %s" % [agent.name, agent.brain_asset_file])
				if not _client.is_connected_to_server():
					return _client.last_error
				agent.brain_asset_file = ""  # do not retry every frame
			from_assets = true
			continue
		var circuit_name := _circuit_for(agent)
		if circuit_name.is_empty():
			continue
		if not pending.has(circuit_name):
			pending[circuit_name] = []
		pending[circuit_name].append(agent)
	for circuit_name: String in pending:
		var group: Array = pending[circuit_name]
		var reply := _client.request(
			SpikeforgeProtocol.spawn(_client.next_seq(), circuit_name, group.size())
		)
		if reply.has("error"):
			push_error("SpikeforgeWorld: spawn %s: %s" % [circuit_name, reply["error"]])
			if not _client.is_connected_to_server():
				return reply
			for agent: BrainAgent in group:
				agent.circuit = &""  # do not retry every frame
				agent.genome_file = ""
			continue
		var spawned := SpikeforgeProtocol.decode_spawned(reply["payload"])
		var ids: PackedInt32Array = spawned["brain_ids"]
		for i in ids.size():
			_agents_by_id[ids[i]] = group[i]
			group[i].set_brain(ids[i])
		_set_layout(spawned["layout"])
		if not learning:  # the server's switch covers the brains that exist when it is sent
			var frozen := _client.request(SpikeforgeProtocol.set_learning(_client.next_seq(), false))
			if frozen.has("error") and not _client.is_connected_to_server():
				return frozen
	if not pending.is_empty() or not gone.is_empty() or from_assets:
		return _ensure_subscriptions()
	return {}


# One subscription per population, listing exactly the brains that have a listener for
# it (the server filters, so brains nobody listens to cost nothing); re-subscribed when
# that set changes (after spawns and despawns).
func _ensure_subscriptions() -> Dictionary:
	var wanted := {}
	for id: int in _spike_nodes:
		for node: Node in _spike_nodes[id]:
			var population := String(node.get(&"population"))
			if not wanted.has(population):
				wanted[population] = []
			if not wanted[population].has(id):
				wanted[population].append(id)
	for population: String in _sub_of.keys():
		var current: Dictionary = _sub_of[population]
		var ids: Array = wanted.get(population, [])
		ids.sort()
		if current["ids"] == ids:
			continue
		var seq := _client.next_seq()
		var reply := _client.request(SpikeforgeProtocol.unsubscribe(seq, int(current["sub_id"])))
		if reply.has("error") and not _client.is_connected_to_server():
			return reply
		_subscriptions.erase(current["sub_id"])
		_sub_of.erase(population)
	for population: String in wanted:
		if _sub_of.has(population) or _failed_subscriptions.has(population):
			continue
		var ids: Array = wanted[population]
		ids.sort()
		var seq := _client.next_seq()
		var reply := _client.request(
			SpikeforgeProtocol.subscribe(seq, population, PackedInt32Array(ids))
		)
		if reply.has("error"):
			push_error("SpikeforgeWorld: subscribe %s: %s" % [population, reply["error"]])
			if not _client.is_connected_to_server():
				return reply
			_failed_subscriptions[population] = true
			continue
		var sub_id: int = SpikeforgeProtocol.decode_subscribed(reply["payload"])["sub_id"]
		_subscriptions[sub_id] = population
		_sub_of[population] = {"sub_id": sub_id, "ids": ids}
	return {}


func _circuit_for(agent: BrainAgent) -> String:
	if not agent.genome_file.is_empty():
		if _uploaded.has(agent.genome_file):
			return _uploaded[agent.genome_file]
		var text := ""
		if FileAccess.file_exists(agent.genome_file):
			text = FileAccess.get_file_as_string(agent.genome_file)
		if text.is_empty():
			push_error("BrainAgent %s: cannot read genome_file %s" % [agent.name, agent.genome_file])
			agent.genome_file = ""
			return ""
		var reply := _client.request(SpikeforgeProtocol.upload_genome(_client.next_seq(), text))
		if reply.has("error"):
			push_error("BrainAgent %s: genome %s: %s" % [agent.name, agent.genome_file, reply["error"]])
			agent.genome_file = ""
			return ""
		var listed: Array = SpikeforgeProtocol.decode_circuits(reply["payload"]).get("circuits", [])
		for c: Dictionary in listed:
			circuits[c["name"]] = c
		_uploaded[agent.genome_file] = listed[0]["name"] if not listed.is_empty() else ""
		return _uploaded[agent.genome_file]
	if agent.circuit == &"":
		push_error("BrainAgent %s: set circuit or genome_file" % agent.get_path())
		return ""
	return String(agent.circuit)


func _refresh_layout() -> void:
	var seq := _client.next_seq()
	var reply := _client.request(SpikeforgeProtocol.empty(SpikeforgeProtocol.MSG_GET_LAYOUT, seq))
	if not reply.has("error"):
		_set_layout(SpikeforgeProtocol.decode_layout(reply["payload"]))


func _set_layout(new_layout: Dictionary) -> void:
	if new_layout.has("error"):
		push_error("SpikeforgeWorld: bad LAYOUT from the server: %s" % new_layout["error"])
		return
	layout = new_layout
	_sensor_floats = int(layout["sensor_floats"])
	var ids_of := {}
	for group: Dictionary in layout["groups"]:
		ids_of[group["circuit"]] = group["brain_ids"]
	var sensor_nodes := {}
	var actuator_nodes := {}
	for id: int in _agents_by_id:
		var agent: Variant = _agents_by_id[id]
		if is_instance_valid(agent):
			sensor_nodes[id] = (agent as BrainAgent).sensors()
			actuator_nodes[id] = (agent as BrainAgent).actuators()
	_sensor_plan = []
	for block: Dictionary in layout["sensor_blocks"]:
		var ids: PackedInt32Array = ids_of.get(block["circuit"], PackedInt32Array())
		var organ := String(block["organ"])
		for row in int(block["rows"]):
			var node: Node = sensor_nodes.get(ids[row], {}).get(organ)
			var offset: int = int(block["offset"]) + row * int(block["cols"])
			_sensor_plan.append([node, offset, int(block["cols"])])
	_actuator_plan = []
	for block: Dictionary in layout["actuator_blocks"]:
		var ids: PackedInt32Array = ids_of.get(block["circuit"], PackedInt32Array())
		var organ := String(block["organ"])
		for row in int(block["rows"]):
			var nodes: Array = actuator_nodes.get(ids[row], {}).get(organ, [])
			var offset: int = int(block["offset"]) + row * int(block["cols"])
			_actuator_plan.append([nodes, offset, int(block["cols"])])
	_spike_nodes = {}
	for id: int in _agents_by_id:
		var agent: Variant = _agents_by_id[id]
		if is_instance_valid(agent):
			var listeners := (agent as BrainAgent).spike_listeners()
			if not listeners.is_empty():
				_spike_nodes[id] = listeners


func _dispatch_spikes(batches: Array) -> void:
	for batch: Dictionary in batches:
		var population: String = _subscriptions.get(batch["sub_id"], "")
		var brains: PackedInt32Array = batch["brain_ids"]
		var steps: PackedInt64Array = batch["steps"]
		var neurons: PackedInt32Array = batch["neurons"]
		# spikes come ordered by step, brains interleaved: gather each brain's own
		# (into plain Arrays, which are shared by reference, then packed once)
		var per_brain := {}
		for k in brains.size():
			var id := brains[k]
			if not _spike_nodes.has(id):
				continue
			if not per_brain.has(id):
				per_brain[id] = [[], []]
			per_brain[id][0].append(steps[k])
			per_brain[id][1].append(neurons[k])
		for id: int in per_brain:
			var brain_steps := PackedInt64Array(per_brain[id][0])
			var brain_neurons := PackedInt32Array(per_brain[id][1])
			for node: Node in _spike_nodes[id]:
				if is_instance_valid(node) and String(node.get(&"population")) == population:
					node.call(&"on_spikes", brain_steps, brain_neurons)


# ------------------------------------------------------------------ connection
func _token_path() -> String:
	if not token_file.is_empty():
		return token_file
	return OS.get_environment("HOME").path_join(".spikeforge/server.token")


func _connect(timeout: float, resume_token: String) -> bool:
	_client.reply_timeout = reply_timeout
	var deadline := Time.get_ticks_msec() + int(timeout * 1000.0)
	var welcome := {}
	while true:
		var token := ""
		if FileAccess.file_exists(_token_path()):
			token = FileAccess.get_file_as_string(_token_path()).strip_edges()
		if not token.is_empty():
			welcome = _client.open(host, port, token, client_name, resume_token, minf(timeout, 2.0))
			if not welcome.has("error"):
				break
			if resume_token != "" and int(welcome.get("code", 0)) == SpikeforgeProtocol.ERR_NOT_FOUND:
				resume_token = ""  # the server restarted: start a new session
				_forget_brains()
				continue
		if Time.get_ticks_msec() > deadline:
			var why: String = welcome.get("error", "token file %s is empty or missing" % _token_path())
			push_warning("SpikeforgeWorld: cannot connect to %s:%d: %s" % [host, port, why])
			return false
		OS.delay_msec(50)
	if not bool(welcome.get("resumed", false)):
		_forget_brains()
		_client.unanswered = 0
	else:
		var lost := _client.unanswered
		if _reconcile(lost) and _reconcile_subscriptions(lost):
			_client.unanswered = 0
		else:
			_client.unanswered = lost  # broke again: reconcile on the next resume
	connected.emit(bool(welcome.get("resumed", false)))
	return true


# After a resume (PROTOCOL.md section 6, "Reconcile after a resume"): if a SPAWN or
# SPAWN_ASSET was unanswered when the connection broke, the session may hold its brains
# although their ids never arrived (the reply went into the dead connection): despawn the
# session's brains the last LAYOUT did not list; their agents have no brain yet and spawn
# again on the next frame. Agents whose brain the session no longer holds forget it.
# False if the connection broke again before it was done.
func _reconcile(lost_request: int) -> bool:
	var known := {}
	for group: Dictionary in layout.get("groups", []):
		for id: int in group["brain_ids"]:
			known[id] = true
	var lost_spawn := (
		lost_request == SpikeforgeProtocol.MSG_SPAWN
		or lost_request == SpikeforgeProtocol.MSG_SPAWN_ASSET
	)
	for attempt in 3:
		var outcome := _reconcile_round(known, lost_spawn)
		if outcome >= 0:
			return outcome == 1
	return true


# One round of _reconcile: 1 done, 0 the connection broke, -1 look again.
func _reconcile_round(known: Dictionary, lost_spawn: bool) -> int:
	var seq := _client.next_seq()
	var reply := _client.request(SpikeforgeProtocol.empty(SpikeforgeProtocol.MSG_GET_LAYOUT, seq))
	if reply.has("error"):
		return 0
	var fresh := SpikeforgeProtocol.decode_layout(reply["payload"])
	var extra := PackedInt32Array()
	if lost_spawn and not fresh.has("error"):
		for group: Dictionary in fresh["groups"]:
			for id: int in group["brain_ids"]:
				if not known.has(id):
					extra.append(id)
	if extra.is_empty():
		_adopt_layout(fresh)
		return 1
	var gone := _client.request(SpikeforgeProtocol.despawn(_client.next_seq(), extra))
	if not gone.has("error"):
		reconciled_brains += extra.size()
		push_warning(
			"SpikeforgeWorld: despawned %d brains of a spawn whose reply was lost" % extra.size()
		)
		_adopt_layout(SpikeforgeProtocol.decode_layout(gone["payload"]))
		return 1
	if not _client.is_connected_to_server():
		return 0
	var code := int(gone.get("code", 0))
	if code == SpikeforgeProtocol.ERR_NOT_FOUND or code == SpikeforgeProtocol.ERR_NOT_OWNER:
		return -1  # the server's own undo of that spawn took them out meanwhile
	push_error("SpikeforgeWorld: despawn after resume: %s" % gone["error"])
	return 1


# After a resume with a SUBSCRIBE or UNSUBSCRIBE unanswered (protocol 1.2; PROTOCOL.md
# section 6): the session may hold a subscription whose SUBSCRIBED reply went into the
# dead connection, whose batch every exchange would carry. List the session's
# subscriptions (GET_SUBSCRIPTIONS), unsubscribe those this world does not hold, forget
# those the session lacks, and subscribe the listeners' populations again. False if the
# connection broke again before it was done.
func _reconcile_subscriptions(lost_request: int) -> bool:
	var lost_subscribe := (
		lost_request == SpikeforgeProtocol.MSG_SUBSCRIBE
		or lost_request == SpikeforgeProtocol.MSG_UNSUBSCRIBE
	)
	if not lost_subscribe or int(_client.welcome.get("minor", 0)) < 2:
		return true  # nothing to do, or a 1.1 server that cannot list them
	var reply := _client.request(
		SpikeforgeProtocol.empty(SpikeforgeProtocol.MSG_GET_SUBSCRIPTIONS, _client.next_seq())
	)
	var listed := {}
	if reply.has("error"):
		listed = reply
	else:
		listed = SpikeforgeProtocol.decode_subscriptions(reply["payload"])
	if listed.has("error"):
		if not _client.is_connected_to_server():
			return false
		push_error("SpikeforgeWorld: subscriptions after resume: %s" % listed["error"])
		return true
	if not _unsubscribe_unknown(listed["subscriptions"]):
		return false
	var again := _ensure_subscriptions()
	return not (again.has("error") and not _client.is_connected_to_server())


# Part of _reconcile_subscriptions: unsubscribe the listed subscriptions this world does
# not hold, forget the ones it holds that are not listed. False if the connection broke.
func _unsubscribe_unknown(listed: Array) -> bool:
	var held := {}
	for sub: Dictionary in listed:
		var sub_id := int(sub["sub_id"])
		held[sub_id] = true
		if _subscriptions.has(sub_id):
			continue
		var gone := _client.request(SpikeforgeProtocol.unsubscribe(_client.next_seq(), sub_id))
		if not gone.has("error"):
			reconciled_subscriptions += 1
			push_warning("SpikeforgeWorld: unsubscribed subscription %d whose reply was lost" % sub_id)
		elif not _client.is_connected_to_server():
			return false
		elif int(gone.get("code", 0)) != SpikeforgeProtocol.ERR_NOT_FOUND:
			push_error("SpikeforgeWorld: unsubscribe after resume: %s" % gone["error"])
	for sub_id: int in _subscriptions.keys():
		if not held.has(sub_id):
			var population: String = _subscriptions[sub_id]
			_subscriptions.erase(sub_id)
			if _sub_of.has(population) and int(_sub_of[population]["sub_id"]) == sub_id:
				_sub_of.erase(population)
	return true


# The session's layout after a resume: agents whose brain it no longer lists forget it.
func _adopt_layout(fresh: Dictionary) -> void:
	if fresh.has("error"):
		_set_layout(fresh)
		return
	var held := {}
	for group: Dictionary in fresh["groups"]:
		for id: int in group["brain_ids"]:
			held[id] = true
	for id: int in _agents_by_id.keys():
		if not held.has(id):
			var agent: Variant = _agents_by_id[id]
			_agents_by_id.erase(id)
			if is_instance_valid(agent):
				(agent as BrainAgent).set_brain(-1)
	_set_layout(fresh)


func _forget_brains() -> void:
	for id: int in _agents_by_id:
		var agent: Variant = _agents_by_id[id]
		if is_instance_valid(agent):
			(agent as BrainAgent).set_brain(-1)
	_agents_by_id = {}
	_uploaded = {}
	_subscriptions = {}
	_failed_subscriptions = {}
	_sub_of = {}
	_spike_nodes = {}
	_sensor_plan = []
	_actuator_plan = []
	_sensor_floats = 0
	layout = {}


func _lost(reason: String) -> void:
	push_warning("SpikeforgeWorld: connection lost: %s" % reason)
	_retry_at_msec = Time.get_ticks_msec() + int(reconnect_interval * 1000.0)
	disconnected.emit(reason)


# PING when nothing was sent for keepalive_period seconds (wall clock: also while paused
# or with Engine.time_scale 0). Every request of this node waits for its reply, so between
# frames nothing is in flight and the PONG is read right here.
func _keepalive_tick() -> void:
	var period := keepalive_period
	if period <= 0.0 or _in_step or not _client.is_connected_to_server():
		return
	if Time.get_ticks_msec() - _client.last_send_msec < int(period * 1000.0):
		return
	keepalives += 1
	var reply := _client.ping()
	if reply.has("error") and not _client.is_connected_to_server():
		_lost(String(reply["error"]))


func _maybe_reconnect() -> void:
	if Time.get_ticks_msec() < _retry_at_msec:
		return
	_retry_at_msec = Time.get_ticks_msec() + int(reconnect_interval * 1000.0)
	var resume: String = _client.welcome.get("resume_token", "")
	_connect(0.2, resume)
