extends Node
class_name SpikeforgeWorld
# The one sync node of a scene (Godot 3 edition): connects to (or launches)
# `spikeforge serve`, spawns a brain per BrainAgent, and runs ONE exchange per physics
# frame for all agents. Same behaviour as the Godot 4 addon's SpikeforgeWorld: agents
# that appear get brains (one SPAWN per circuit), agents that leave lose them (one
# DESPAWN), sensors are packed in the server's layout order, pending rewards are sent
# in the same round trip, and each actuator node gets its slice of the outputs. A lost
# connection is retried every reconnect_interval seconds: the session (and its brains)
# is resumed if the server still holds it, else every agent gets a fresh brain.

signal connected(resumed)
signal disconnected(reason)
signal exchanged(result)

const Proto = preload("res://addons/spikeforge/protocol.gd")
const Client = preload("res://addons/spikeforge/client.gd")

# Server address (loopback unless the server runs with --allow-remote).
export(String) var host = "127.0.0.1"
# Server TCP port.
export(int, 1, 65535) var port = 47800
# Token file written by the server; empty means ~/.spikeforge/server.token.
export(String) var token_file = ""
# Name this client reports to the server.
export(String) var client_name = "godot3"
# Connect (and spawn brains) as soon as the node is ready.
export(bool) var auto_start = true
# Start `spikeforge serve` as a child process (this port and token file) on start.
export(bool) var launch_server = false
# Command that runs spikeforge when launching the server.
export(String) var server_command = "spikeforge"
# Extra arguments for `spikeforge serve`.
export(PoolStringArray) var server_arguments = PoolStringArray()
# Seconds to keep trying the first connection.
export(float) var connect_timeout = 15.0
# Seconds between reconnection attempts after the connection was lost.
export(float) var reconnect_interval = 1.0
# Seconds to wait for any reply before the connection is considered dead.
export(float) var reply_timeout = 10.0
# Game time per exchange (s); 0 uses the physics delta.
export(float) var fixed_frame_dt = 0.0
# Run exchanges from _physics_process; off: call step() yourself.
export(bool) var step_in_physics = true
# Plasticity of this client's brains; off freezes their weights (sent again after every
# spawn, so it covers brains spawned later). Change it with set_learning().
export(bool) var learning = true
# Seconds without any frame sent after which a PING keeps the connection alive, also
# while the scene tree is paused (a pause menu) or no exchange runs: the server closes a
# connection silent for its --idle-timeout (300 s by default) and the brains are lost
# unless the game reconnects within the grace period. 0 turns it off. A server that
# announces a shorter idle timeout (protocol 1.1) lowers it to half of that (see
# keepalive_period).
export(float, 0.0, 3600.0, 0.5) var keepalive_interval = 30.0

var layout = {}
var circuits = {}
# Microseconds spent by the last step: "sense" (reading sensor nodes + packing), "read"
# (inside the sensor nodes' get_values), "io" (encode, round trip, decode), "act"
# (slicing outputs + actuator nodes), "apply" (inside apply_outputs), "wait" (from the
# request sent to the reply read: wire + server), "sim" (server simulation), "total";
# "exchange" = total - read - apply - sim: the cost of the exchange itself, GDScript
# side included, without scene work and simulation; "gdscript" = total - read - apply
# - wait: the adapter's own GDScript work (packing, encoding, decoding, slicing).
var timings = {}
var exchanges = 0
# The sensor array and frame time sent by the last exchange (layout order).
var last_sensors = PoolRealArray()
var last_frame_dt = 0.0
# The rewards sent with the last exchange (brain ids and values; empty if none).
var last_reward_ids = PoolIntArray()
var last_rewards = PoolRealArray()
# PINGs sent by the keepalive (see keepalive_interval).
var keepalives = 0
# Brains despawned after resumes because they were a spawn's whose reply was lost with the
# connection (the session held them, this node never learned their ids; PROTOCOL.md
# section 6, "Reconcile after a resume"). Their agents got new brains.
var reconciled_brains = 0
# Subscriptions unsubscribed after resumes because a SUBSCRIBE's reply was lost with the
# connection (protocol 1.2, PROTOCOL.md section 6): the session held a subscription this
# node did not know. The world subscribed its listeners again.
var reconciled_subscriptions = 0
# The server's idle timeout in seconds as its WELCOME announced it (protocol 1.1), read
# only: 0 = the server never drops an idle connection, -1 = unknown (not connected yet,
# or a 1.0 server).
var idle_timeout setget _read_only, get_idle_timeout
# Seconds without a sent frame after which the keepalive pings, read only:
# keepalive_interval lowered to half of idle_timeout, not below 1 s on that account; 0 = off.
var keepalive_period setget _read_only, get_keepalive_period

var _client = Client.new()
var _agents_by_id = {}
var _uploaded = {}
var _sensor_plan = []
var _actuator_plan = []
var _spike_nodes = {}
var _subscriptions = {}
var _failed_subscriptions = {}
var _sub_of = {}
var _rewards_supported = true
var _sensor_floats = 0
var _bad_sensors = {}
var _reward_error_reported = false
var _server_pid = -1
var _retry_at_msec = 0
var _started = false
var _in_step = false


func _ready() -> void:
	if auto_start and not Engine.editor_hint:
		start()


func _enter_tree() -> void:
	# SceneTree's idle_frame is emitted every frame, also while the tree is paused (this
	# node's own callbacks are not, and must not be: no exchange runs during a pause)
	if not Engine.editor_hint and not get_tree().is_connected("idle_frame", self, "_keepalive_tick"):
		get_tree().connect("idle_frame", self, "_keepalive_tick")


func _exit_tree() -> void:
	if get_tree().is_connected("idle_frame", self, "_keepalive_tick"):
		get_tree().disconnect("idle_frame", self, "_keepalive_tick")
	stop()


func _physics_process(delta: float) -> void:
	if step_in_physics and _started:
		step(fixed_frame_dt if fixed_frame_dt > 0.0 else delta)


func start() -> bool:
	_started = true
	if launch_server and _server_pid < 0:
		var args = ["serve", "--port", str(port), "--token-file", _token_path()]
		for a in server_arguments:
			args.append(a)
		_server_pid = OS.execute(server_command, args, false)
		if _server_pid <= 0:
			push_error("SpikeforgeWorld: could not start %s %s" % [server_command, args])
	return _connect(connect_timeout, "")


func stop() -> void:
	if _client.is_connected_to_server():
		_client.bye(false)
	_started = false
	if _server_pid > 0:
		OS.kill(_server_pid)
		_server_pid = -1


# Close the socket without BYE, as if the network dropped. The next frames reconnect
# and resume the session (the server keeps the brains for its grace period).
func drop_connection() -> void:
	if _client.is_connected_to_server():
		_client.close()
		_lost("dropped by drop_connection()")


func is_online() -> bool:
	return _client.is_connected_to_server()


func session() -> Dictionary:
	return _client.welcome


func set_learning(enabled: bool) -> bool:
	learning = enabled
	if not _client.is_connected_to_server():
		return false
	var reply = _client.request(Proto.set_learning(_client.next_seq(), enabled))
	if reply.has("error"):
		push_warning("SpikeforgeWorld: set_learning: %s" % reply["error"])
		return false
	return true


func save_snapshot(snapshot_name: String) -> bool:
	var reply = _client.request(Proto.snapshot(_client.next_seq(), snapshot_name, false))
	if reply.has("error"):
		push_error("SpikeforgeWorld: save %s: %s" % [snapshot_name, reply["error"]])
		return false
	return true


# One of this client's brains as a brain file (the bytes Python's Brain.save writes):
# keep it as a game asset and spawn it later with spawn_from_asset() or a BrainAgent's
# brain_asset_file. with_state: include its state and random stream (it continues
# bit-exactly). Empty on error (pushed; NOT_OWNER for another client's brain).
func export_brain_asset(brain_id: int, with_state: bool = true) -> PoolByteArray:
	if not _client.is_connected_to_server():
		push_error("SpikeforgeWorld: export_brain_asset: not connected")
		return PoolByteArray()
	var reply = _client.request(Proto.export_brain(_client.next_seq(), brain_id, with_state))
	if reply.has("error"):
		push_error("SpikeforgeWorld: export brain %d: %s" % [brain_id, reply["error"]])
		return PoolByteArray()
	var asset = Proto.decode_brain_asset(reply["payload"])
	if asset.has("error"):
		push_error("SpikeforgeWorld: export brain %d: %s" % [brain_id, asset["error"]])
		return PoolByteArray()
	return asset["data"]


# Spawn one brain from a brain file's bytes and give it to `agent` (which must have no
# brain yet; null: a bodiless brain of this client, on zero input until stop()). Returns
# the brain id, or -1 on error (pushed; nothing is spawned then).
func spawn_from_asset(data: PoolByteArray, agent = null, with_state: bool = true) -> int:
	if not _client.is_connected_to_server():
		push_error("SpikeforgeWorld: spawn_from_asset: not connected")
		return -1
	if agent != null and agent.brain_id >= 0:
		push_error("SpikeforgeWorld: spawn_from_asset: %s already has a brain" % agent.name)
		return -1
	var id = _spawn_asset(data, agent, with_state)
	if id >= 0:
		_ensure_subscriptions()
	return id


func _spawn_asset(data: PoolByteArray, agent, with_state: bool) -> int:
	var reply = _client.request(Proto.spawn_asset(_client.next_seq(), data, with_state))
	if reply.has("error"):
		push_error("SpikeforgeWorld: spawn from asset: %s" % reply["error"])
		return -1
	var spawned = Proto.decode_spawned(reply["payload"])
	var ids = spawned["brain_ids"]
	if ids.size() != 1:
		push_error("SpikeforgeWorld: spawn from asset: bad SPAWNED reply")
		return -1
	if agent != null:
		_agents_by_id[ids[0]] = agent
		agent.set_brain(ids[0])
	_set_layout(spawned["layout"])
	if not learning:
		_client.request(Proto.set_learning(_client.next_seq(), false))
	return ids[0]


func _read_bytes(path: String) -> PoolByteArray:
	var f = File.new()
	if f.open(path, File.READ) != OK:
		return PoolByteArray()
	var data = f.get_buffer(f.get_len())
	f.close()
	return data


func server_stats() -> Dictionary:
	var reply = _client.request(Proto.empty(Proto.MSG_STATS, _client.next_seq()))
	if reply.has("error"):
		return {}
	return Proto.decode_stats(reply["payload"]).get("stats", {})


func step(frame_dt: float) -> Dictionary:
	if _in_step:
		push_error("SpikeforgeWorld.step was re-entered (from an actuator signal?); ignored")
		return {"error": "re-entered"}
	if not _client.is_connected_to_server():
		_maybe_reconnect()
		return {"error": "offline"}
	_in_step = true
	var result = _step(frame_dt)
	_in_step = false
	if result.has("error") and not _client.is_connected_to_server():
		_lost(str(result["error"]))
	return result


func _step(frame_dt: float) -> Dictionary:
	var sync = _sync_agents()
	if sync.has("error"):
		return sync
	var t0 = OS.get_ticks_usec()
	# read every sensor node first (scene work: raycasts...), then pack in layout order
	var read = []
	read.resize(_sensor_plan.size())
	for i in _sensor_plan.size():
		var node = _sensor_plan[i][0]
		if node != null and is_instance_valid(node):
			read[i] = node.get_values()
	var t_read = OS.get_ticks_usec()
	var read_usec = t_read - t0
	var apply_usec = 0
	var sensors = PoolRealArray()
	for values in read:  # fast path: every sensor returned its organ's channel count
		if values != null:
			sensors.append_array(values)
	if sensors.size() != _sensor_floats:
		sensors = _pack_checked(read)
	var t1 = OS.get_ticks_usec()
	last_sensors = sensors
	last_frame_dt = frame_dt
	var reward_sent = _send_rewards()
	if not _client.send(Proto.exchange(_client.next_seq(), int(layout.get("epoch", 0)), frame_dt, sensors)):
		return _client.last_error
	var w0 = OS.get_ticks_usec()
	if reward_sent:
		var ack = _client.receive()
		if ack.has("error"):
			if int(ack.get("code", 0)) == Proto.ERR_UNSUPPORTED:
				_rewards_supported = false
				push_warning("SpikeforgeWorld: the server has no reward input; rewards are dropped")
			elif not _client.is_connected_to_server():
				return ack
			elif not _reward_error_reported:
				_reward_error_reported = true
				push_warning("SpikeforgeWorld: the server refused a reward: %s" % ack["error"])
	var reply = _client.receive()
	if reply.has("error"):
		if int(reply.get("code", 0)) == Proto.ERR_STALE_LAYOUT:
			_refresh_layout()
		return reply
	var wait_usec = OS.get_ticks_usec() - w0
	var result = Proto.decode_exchange_result(reply["payload"])
	var t2 = OS.get_ticks_usec()
	var outputs = result.get("actuators", PoolRealArray())
	var parts = []
	parts.resize(_actuator_plan.size())
	for k in _actuator_plan.size():
		var entry = _actuator_plan[k]
		var offset = entry[1]
		var cols = entry[2]
		if cols == 1:
			parts[k] = PoolRealArray([outputs[offset]])
		elif cols == 2:
			parts[k] = PoolRealArray([outputs[offset], outputs[offset + 1]])
		else:
			var part = PoolRealArray()
			part.resize(cols)
			for i in cols:
				part[i] = outputs[offset + i]
			parts[k] = part
	var a0 = OS.get_ticks_usec()
	for k in _actuator_plan.size():
		for node in _actuator_plan[k][0]:
			if is_instance_valid(node):
				node.apply_outputs(parts[k], frame_dt)
	apply_usec = OS.get_ticks_usec() - a0
	_dispatch_spikes(result.get("batches", []))
	var t3 = OS.get_ticks_usec()
	exchanges += 1
	var sim = int(result.get("sim_us", 0))
	timings = {"sense": t1 - t0, "read": read_usec, "io": t2 - t1, "wait": wait_usec, "act": t3 - t2,
		"apply": apply_usec, "sim": sim, "total": t3 - t0,
		"exchange": (t3 - t0) - read_usec - apply_usec - sim,
		"gdscript": (t3 - t0) - read_usec - apply_usec - wait_usec}
	emit_signal("exchanged", result)
	return result


# Slow path of the packing: place every sensor's values at its offset, padding or
# cutting values of the wrong length (and reporting them once).
func _pack_checked(read: Array) -> PoolRealArray:
	var sensors = PoolRealArray()
	for i in _sensor_plan.size():
		var entry = _sensor_plan[i]
		if sensors.size() != entry[1]:
			sensors.resize(entry[1])
		var values = read[i]
		if values == null:
			values = PoolRealArray()
		if values.size() != entry[2]:
			if entry[0] != null and not _bad_sensors.has(entry[0]):
				_bad_sensors[entry[0]] = true
				push_error("SpikeforgeWorld: sensor %s gave %d values, its organ has %d channels" % [entry[0].get_path(), values.size(), entry[2]])
			values.resize(entry[2])
		sensors.append_array(values)
	sensors.resize(_sensor_floats)
	return sensors


func _send_rewards() -> bool:
	last_reward_ids = PoolIntArray()
	last_rewards = PoolRealArray()
	if not _rewards_supported:
		return false
	var ids = PoolIntArray()
	var rewards = PoolRealArray()
	for agent in get_tree().get_nodes_in_group("spikeforge_rewarded"):  # agents that got add_reward()
		if agent.brain_id < 0:
			continue  # no brain yet: keep the reward for later
		agent.remove_from_group("spikeforge_rewarded")
		if agent.pending_reward != 0.0 and _agents_by_id.get(agent.brain_id) == agent:
			ids.append(agent.brain_id)
			rewards.append(agent.pending_reward)
			agent.pending_reward = 0.0
	if ids.size() == 0:
		return false
	last_reward_ids = ids
	last_rewards = rewards
	return _client.send(Proto.reward(_client.next_seq(), ids, rewards))


# ------------------------------------------------------------------ agents and layout
func _sync_agents() -> Dictionary:
	var gone = PoolIntArray()
	for id in _agents_by_id:
		var agent = _agents_by_id[id]
		if not is_instance_valid(agent) or not agent.is_inside_tree():
			gone.append(id)
	if gone.size() > 0:
		for id in gone:
			_agents_by_id.erase(id)
		var reply = _client.request(Proto.despawn(_client.next_seq(), gone))
		if reply.has("error"):
			return reply
		_set_layout(Proto.decode_layout(reply["payload"]))
	var pending = {}
	var pending_order = []
	var from_assets = false
	for agent in get_tree().get_nodes_in_group("spikeforge_agents"):
		if not agent.has_method("set_brain") or agent.brain_id >= 0 or not agent.is_inside_tree():
			continue
		if agent.brain_asset_file != "":
			var data = _read_bytes(agent.brain_asset_file)
			if data.size() == 0 or _spawn_asset(data, agent, agent.brain_asset_state) < 0:
				push_error("BrainAgent %s: cannot spawn %s" % [agent.name, agent.brain_asset_file])
				if not _client.is_connected_to_server():
					return _client.last_error
				agent.brain_asset_file = ""  # do not retry every frame
			from_assets = true
			continue
		var circuit_name = _circuit_for(agent)
		if circuit_name == "":
			continue
		if not pending.has(circuit_name):
			pending[circuit_name] = []
			pending_order.append(circuit_name)
		pending[circuit_name].append(agent)
	for circuit_name in pending_order:
		var group = pending[circuit_name]
		var reply = _client.request(Proto.spawn(_client.next_seq(), circuit_name, group.size()))
		if reply.has("error"):
			push_error("SpikeforgeWorld: spawn %s: %s" % [circuit_name, reply["error"]])
			if not _client.is_connected_to_server():
				return reply
			for agent in group:
				agent.circuit = ""
				agent.genome_file = ""
			continue
		var spawned = Proto.decode_spawned(reply["payload"])
		var ids = spawned["brain_ids"]
		for i in ids.size():
			_agents_by_id[ids[i]] = group[i]
			group[i].set_brain(ids[i])
		_set_layout(spawned["layout"])
		if not learning:  # the server's switch covers the brains that exist when it is sent
			var frozen = _client.request(Proto.set_learning(_client.next_seq(), false))
			if frozen.has("error") and not _client.is_connected_to_server():
				return frozen
	if pending.size() > 0 or gone.size() > 0 or from_assets:
		return _ensure_subscriptions()
	return {}


# One subscription per population, listing exactly the brains that have a listener for
# it (the server filters, so brains nobody listens to cost nothing); re-subscribed when
# that set changes (after spawns and despawns).
func _ensure_subscriptions() -> Dictionary:
	var wanted = {}
	for id in _spike_nodes:
		for node in _spike_nodes[id]:
			var population = str(node.population)
			if not wanted.has(population):
				wanted[population] = []
			if not id in wanted[population]:
				wanted[population].append(id)
	for population in _sub_of.keys():
		var current = _sub_of[population]
		var ids = wanted.get(population, [])
		ids.sort()
		if current["ids"] == ids:
			continue
		var reply = _client.request(Proto.unsubscribe(_client.next_seq(), current["sub_id"]))
		if reply.has("error") and not _client.is_connected_to_server():
			return reply
		_subscriptions.erase(current["sub_id"])
		_sub_of.erase(population)
	for population in wanted:
		if _sub_of.has(population) or _failed_subscriptions.has(population):
			continue
		var ids = wanted[population]
		ids.sort()
		var reply = _client.request(Proto.subscribe(_client.next_seq(), population, PoolIntArray(ids)))
		if reply.has("error"):
			push_error("SpikeforgeWorld: subscribe %s: %s" % [population, reply["error"]])
			if not _client.is_connected_to_server():
				return reply
			_failed_subscriptions[population] = true
			continue
		var sub_id = Proto.decode_subscribed(reply["payload"])["sub_id"]
		_subscriptions[sub_id] = population
		_sub_of[population] = {"sub_id": sub_id, "ids": ids}
	return {}


func _circuit_for(agent) -> String:
	if agent.genome_file != "":
		if _uploaded.has(agent.genome_file):
			return _uploaded[agent.genome_file]
		var f = File.new()
		if f.open(agent.genome_file, File.READ) != OK:
			push_error("BrainAgent %s: cannot read genome_file %s" % [agent.name, agent.genome_file])
			agent.genome_file = ""
			return ""
		var text = f.get_as_text()
		f.close()
		var reply = _client.request(Proto.upload_genome(_client.next_seq(), text))
		if reply.has("error"):
			push_error("BrainAgent %s: genome %s: %s" % [agent.name, agent.genome_file, reply["error"]])
			agent.genome_file = ""
			return ""
		var listed = Proto.decode_circuits(reply["payload"]).get("circuits", [])
		for c in listed:
			circuits[c["name"]] = c
		_uploaded[agent.genome_file] = listed[0]["name"] if listed.size() > 0 else ""
		return _uploaded[agent.genome_file]
	if agent.circuit == "":
		push_error("BrainAgent %s: set circuit or genome_file" % agent.get_path())
	return agent.circuit


func _refresh_layout() -> void:
	var reply = _client.request(Proto.empty(Proto.MSG_GET_LAYOUT, _client.next_seq()))
	if not reply.has("error"):
		_set_layout(Proto.decode_layout(reply["payload"]))


func _set_layout(new_layout: Dictionary) -> void:
	if new_layout.has("error"):
		push_error("SpikeforgeWorld: bad LAYOUT from the server: %s" % new_layout["error"])
		return
	layout = new_layout
	_sensor_floats = int(layout["sensor_floats"])
	var ids_of = {}
	for group in layout["groups"]:
		ids_of[group["circuit"]] = group["brain_ids"]
	var sensor_nodes = {}
	var actuator_nodes = {}
	for id in _agents_by_id:
		var agent = _agents_by_id[id]
		if is_instance_valid(agent):
			sensor_nodes[id] = agent.sensors()
			actuator_nodes[id] = agent.actuators()
	_sensor_plan = []
	for block in layout["sensor_blocks"]:
		var ids = ids_of.get(block["circuit"], PoolIntArray())
		for row in block["rows"]:
			var node = sensor_nodes.get(ids[row], {}).get(str(block["organ"]))
			_sensor_plan.append([node, block["offset"] + row * block["cols"], block["cols"]])
	_actuator_plan = []
	for block in layout["actuator_blocks"]:
		var ids = ids_of.get(block["circuit"], PoolIntArray())
		for row in block["rows"]:
			var nodes = actuator_nodes.get(ids[row], {}).get(str(block["organ"]), [])
			_actuator_plan.append([nodes, block["offset"] + row * block["cols"], block["cols"]])
	_spike_nodes = {}
	for id in _agents_by_id:
		var agent = _agents_by_id[id]
		if is_instance_valid(agent):
			var listeners = agent.spike_listeners()
			if listeners.size() > 0:
				_spike_nodes[id] = listeners


func _dispatch_spikes(batches: Array) -> void:
	for batch in batches:
		var population = _subscriptions.get(batch["sub_id"], "")
		var brains = batch["brain_ids"]
		var step_words = batch["step_words"]
		var neurons = batch["neurons"]
		# spikes come ordered by step, brains interleaved: gather each brain's own (into
		# plain Arrays: a PoolIntArray inside an Array would be copied on append)
		var per_brain = {}
		for k in brains.size():
			var entry = per_brain.get(brains[k])
			if entry == null:
				if not _spike_nodes.has(brains[k]):
					continue
				entry = [[], []]
				per_brain[brains[k]] = entry
			# the i64 step from its two 32-bit words (inline: a call per spike costs more)
			entry[0].append((step_words[2 * k] & 0xFFFFFFFF) | (step_words[2 * k + 1] << 32))
			entry[1].append(neurons[k])
		for id in per_brain:
			var brain_neurons = PoolIntArray(per_brain[id][1])
			for node in _spike_nodes[id]:
				if is_instance_valid(node) and str(node.population) == population:
					node.on_spikes(per_brain[id][0], brain_neurons)


# ------------------------------------------------------------------ connection
func _token_path() -> String:
	if token_file != "":
		return token_file
	return OS.get_environment("HOME").plus_file(".spikeforge/server.token")


func _read_token() -> String:
	var f = File.new()
	if f.open(_token_path(), File.READ) != OK:
		return ""
	var text = f.get_as_text().strip_edges()
	f.close()
	return text


func _connect(timeout: float, resume_token: String) -> bool:
	_client.reply_timeout = reply_timeout
	var deadline = OS.get_ticks_msec() + int(timeout * 1000.0)
	var welcome = {}
	while true:
		var token = _read_token()
		if token != "":
			welcome = _client.open(host, port, token, client_name, resume_token, min(timeout, 2.0))
			if not welcome.has("error"):
				break
			if resume_token != "" and int(welcome.get("code", 0)) == Proto.ERR_NOT_FOUND:
				resume_token = ""
				_forget_brains()
				continue
		if OS.get_ticks_msec() > deadline:
			var why = welcome.get("error", "token file %s is empty or missing" % _token_path())
			push_warning("SpikeforgeWorld: cannot connect to %s:%d: %s" % [host, port, why])
			return false
		OS.delay_msec(50)
	if welcome.get("resumed", false):
		var lost = _client.unanswered
		if _reconcile(lost) and _reconcile_subscriptions(lost):
			_client.unanswered = 0
		else:
			_client.unanswered = lost  # broke again: reconcile on the next resume
	else:
		_forget_brains()
		_client.unanswered = 0
	emit_signal("connected", welcome.get("resumed", false))
	return true


# After a resume (PROTOCOL.md section 6, "Reconcile after a resume"): if a SPAWN or
# SPAWN_ASSET was unanswered when the connection broke, the session may hold its brains
# although their ids never arrived (the reply went into the dead connection): despawn the
# session's brains the last LAYOUT did not list; their agents have no brain yet and spawn
# again on the next frame. Agents whose brain the session no longer holds forget it.
# False if the connection broke again before it was done.
func _reconcile(lost_request: int) -> bool:
	var known = {}
	for group in layout.get("groups", []):
		for id in group["brain_ids"]:
			known[id] = true
	var lost_spawn = lost_request == Proto.MSG_SPAWN or lost_request == Proto.MSG_SPAWN_ASSET
	for _attempt in range(3):
		var outcome = _reconcile_round(known, lost_spawn)
		if outcome >= 0:
			return outcome == 1
	return true


# One round of _reconcile: 1 done, 0 the connection broke, -1 look again.
func _reconcile_round(known: Dictionary, lost_spawn: bool) -> int:
	var reply = _client.request(Proto.empty(Proto.MSG_GET_LAYOUT, _client.next_seq()))
	if reply.has("error"):
		return 0
	var fresh = Proto.decode_layout(reply["payload"])
	var extra = PoolIntArray()
	if lost_spawn and not fresh.has("error"):
		for group in fresh["groups"]:
			for id in group["brain_ids"]:
				if not known.has(id):
					extra.append(id)
	if extra.empty():
		_adopt_layout(fresh)
		return 1
	var gone = _client.request(Proto.despawn(_client.next_seq(), extra))
	if not gone.has("error"):
		reconciled_brains += extra.size()
		push_warning("SpikeforgeWorld: despawned %d brains of a spawn whose reply was lost" % extra.size())
		_adopt_layout(Proto.decode_layout(gone["payload"]))
		return 1
	if not _client.is_connected_to_server():
		return 0
	var code = int(gone.get("code", 0))
	if code == Proto.ERR_NOT_FOUND or code == Proto.ERR_NOT_OWNER:
		return -1  # the server's own undo of that spawn took them out meanwhile
	push_error("SpikeforgeWorld: despawn after resume: %s" % gone["error"])
	return 1


# After a resume with a SUBSCRIBE or UNSUBSCRIBE unanswered (protocol 1.2; PROTOCOL.md
# section 6): the session may hold a subscription whose SUBSCRIBED reply went into the
# dead connection, whose batch every exchange would carry. List the session's
# subscriptions (GET_SUBSCRIPTIONS), unsubscribe those this node does not hold, forget
# those the session lacks, and subscribe the listeners' populations again. False if the
# connection broke again before it was done.
func _reconcile_subscriptions(lost_request: int) -> bool:
	var lost_subscribe = lost_request == Proto.MSG_SUBSCRIBE or lost_request == Proto.MSG_UNSUBSCRIBE
	if not lost_subscribe or int(_client.welcome.get("minor", 0)) < 2:
		return true  # nothing to do, or a 1.1 server that cannot list them
	var reply = _client.request(Proto.empty(Proto.MSG_GET_SUBSCRIPTIONS, _client.next_seq()))
	var listed = {}
	if reply.has("error"):
		listed = reply
	else:
		listed = Proto.decode_subscriptions(reply["payload"])
	if listed.has("error"):
		if not _client.is_connected_to_server():
			return false
		push_error("SpikeforgeWorld: subscriptions after resume: %s" % listed["error"])
		return true
	if not _unsubscribe_unknown(listed["subscriptions"]):
		return false
	var again = _ensure_subscriptions()
	return not (again.has("error") and not _client.is_connected_to_server())


# Part of _reconcile_subscriptions: unsubscribe the listed subscriptions this node does
# not hold, forget the ones it holds that are not listed. False if the connection broke.
func _unsubscribe_unknown(listed: Array) -> bool:
	var held = {}
	for sub in listed:
		var sub_id = int(sub["sub_id"])
		held[sub_id] = true
		if _subscriptions.has(sub_id):
			continue
		var gone = _client.request(Proto.unsubscribe(_client.next_seq(), sub_id))
		if not gone.has("error"):
			reconciled_subscriptions += 1
			push_warning("SpikeforgeWorld: unsubscribed subscription %d whose reply was lost" % sub_id)
		elif not _client.is_connected_to_server():
			return false
		elif int(gone.get("code", 0)) != Proto.ERR_NOT_FOUND:
			push_error("SpikeforgeWorld: unsubscribe after resume: %s" % gone["error"])
	for sub_id in _subscriptions.keys():
		if not held.has(sub_id):
			var population = _subscriptions[sub_id]
			_subscriptions.erase(sub_id)
			if _sub_of.has(population) and int(_sub_of[population]["sub_id"]) == sub_id:
				_sub_of.erase(population)
	return true


# The session's layout after a resume: agents whose brain it no longer lists forget it.
func _adopt_layout(fresh: Dictionary) -> void:
	if fresh.has("error"):
		_set_layout(fresh)
		return
	var held = {}
	for group in fresh["groups"]:
		for id in group["brain_ids"]:
			held[id] = true
	for id in _agents_by_id.keys():
		if not held.has(id):
			var agent = _agents_by_id[id]
			_agents_by_id.erase(id)
			if is_instance_valid(agent):
				agent.set_brain(-1)
	_set_layout(fresh)


func _forget_brains() -> void:
	for id in _agents_by_id:
		var agent = _agents_by_id[id]
		if is_instance_valid(agent):
			agent.set_brain(-1)
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
	_retry_at_msec = OS.get_ticks_msec() + int(reconnect_interval * 1000.0)
	emit_signal("disconnected", reason)


# PING when nothing was sent for keepalive_interval seconds (wall clock: also while paused
# or with Engine.time_scale 0). Every request of this node waits for its reply, so between
# frames nothing is in flight and the PONG is read right here.
func _keepalive_tick() -> void:
	var period = get_keepalive_period()
	if period <= 0.0 or _in_step or not _client.is_connected_to_server():
		return
	if OS.get_ticks_msec() - _client.last_send_msec < int(period * 1000.0):
		return
	keepalives += 1
	var reply = _client.ping()
	if reply.has("error") and not _client.is_connected_to_server():
		_lost(String(reply["error"]))


# See the idle_timeout property.
func get_idle_timeout() -> float:
	return float(_client.welcome.get("idle_timeout_s", -1.0))


# See the keepalive_period property.
func get_keepalive_period() -> float:
	return Proto.keepalive_interval(keepalive_interval, get_idle_timeout())


func _read_only(_value) -> void:
	push_warning("SpikeforgeWorld: idle_timeout and keepalive_period are read only")


func _maybe_reconnect() -> void:
	if OS.get_ticks_msec() < _retry_at_msec:
		return
	_retry_at_msec = OS.get_ticks_msec() + int(reconnect_interval * 1000.0)
	_connect(0.2, _client.welcome.get("resume_token", ""))
