extends Reference
class_name SpikeforgeProtocol
# Pure encoder/decoder for the spikeforge wire protocol 1.0 (integrations/PROTOCOL.md),
# Godot 3 edition. Same functions, same bytes as the Godot 4 addon's protocol.gd:
# tests/integration/test_godot3_codec.py runs this file in Godot 3 on the inputs of
# integrations/godot/addons/spikeforge/tests/frames/cases.json and compares the bytes
# with the recorded Godot 4 frames.

const MAGIC = 0x464B5053
const MAJOR = 1
const MINOR = 0
const HEADER_BYTES = 12

const MSG_HELLO = 0x0001
const MSG_WELCOME = 0x0002
const MSG_ERROR = 0x0003
const MSG_OK = 0x0004
const MSG_PING = 0x0005
const MSG_PONG = 0x0006
const MSG_BYE = 0x0007
const MSG_LIST_CIRCUITS = 0x0010
const MSG_CIRCUITS = 0x0011
const MSG_UPLOAD_GENOME = 0x0012
const MSG_SPAWN = 0x0020
const MSG_SPAWNED = 0x0021
const MSG_DESPAWN = 0x0022
const MSG_LAYOUT = 0x0023
const MSG_GET_LAYOUT = 0x0024
const MSG_CLAIM = 0x0025
const MSG_EXCHANGE = 0x0030
const MSG_EXCHANGE_RESULT = 0x0031
const MSG_SUBSCRIBE = 0x0032
const MSG_SUBSCRIBED = 0x0033
const MSG_UNSUBSCRIBE = 0x0034
const MSG_REWARD = 0x0040
const MSG_SET_LEARNING = 0x0041
const MSG_SAVE = 0x0050
const MSG_LOAD = 0x0051
const MSG_STATS = 0x0060
const MSG_STATS_RESULT = 0x0061

const ERR_NOT_FOUND = 7
const ERR_STALE_LAYOUT = 11
const ERR_UNSUPPORTED = 12


# ------------------------------------------------------------------ float arrays
# var2bytes(PoolRealArray) is a Variant header (u32 type 22, u32 count) followed by the
# raw little-endian float32 values: the wire format after the first 8 bytes.
static func floats_to_bytes(values: PoolRealArray) -> PoolByteArray:
	if values.size() == 0:
		return PoolByteArray()
	var b: PoolByteArray = var2bytes(values)
	return b.subarray(8, b.size() - 1)


static func bytes_to_floats(raw: PoolByteArray, n: int) -> PoolRealArray:
	if n == 0:
		return PoolRealArray()
	var h = StreamPeerBuffer.new()
	h.big_endian = false
	h.put_u32(TYPE_REAL_ARRAY)
	h.put_u32(n)
	var full: PoolByteArray = h.data_array
	full.append_array(raw)
	return bytes2var(full)


# Same trick for 32-bit integers (PoolIntArray, Variant type 21): u32 values below 2^31
# (brain ids, neuron indices) come out as they are.
static func bytes_to_ints(raw: PoolByteArray, n: int) -> PoolIntArray:
	if n == 0:
		return PoolIntArray()
	var h = StreamPeerBuffer.new()
	h.big_endian = false
	h.put_u32(TYPE_INT_ARRAY)
	h.put_u32(n)
	var full: PoolByteArray = h.data_array
	full.append_array(raw)
	return bytes2var(full)


# Spike k's step from a batch's "step_words" (the i64 steps as pairs of 32-bit words).
static func spike_step(step_words: PoolIntArray, k: int) -> int:
	return (step_words[2 * k] & 0xFFFFFFFF) | (step_words[2 * k + 1] << 32)


# ------------------------------------------------------------------ encoding
static func _writer() -> StreamPeerBuffer:
	var b = StreamPeerBuffer.new()
	b.big_endian = false
	return b


static func _put_str16(b: StreamPeerBuffer, text: String) -> void:
	var bytes = text.to_utf8()
	b.put_u16(bytes.size())
	b.put_data(bytes)


static func _put_ids(b: StreamPeerBuffer, ids: PoolIntArray) -> void:
	b.put_u32(ids.size())
	for i in ids.size():
		b.put_u32(ids[i])


static func frame(type: int, seq: int, payload: PoolByteArray) -> PoolByteArray:
	var b = _writer()
	b.put_u32(8 + payload.size())
	b.put_u16(type)
	b.put_u16(0)
	b.put_u32(seq)
	b.put_data(payload)
	return b.data_array


static func empty(type: int, seq: int) -> PoolByteArray:
	return frame(type, seq, PoolByteArray())


static func hello(seq: int, client_name: String, token: String, resume_token: String) -> PoolByteArray:
	var b = _writer()
	b.put_u32(MAGIC)
	b.put_u16(MAJOR)
	b.put_u16(MINOR)
	_put_str16(b, client_name)
	_put_str16(b, token)
	_put_str16(b, resume_token)
	return frame(MSG_HELLO, seq, b.data_array)


static func upload_genome(seq: int, genome_json: String) -> PoolByteArray:
	var b = _writer()
	var bytes = genome_json.to_utf8()
	b.put_u32(bytes.size())
	b.put_data(bytes)
	return frame(MSG_UPLOAD_GENOME, seq, b.data_array)


static func spawn(seq: int, circuit: String, count: int) -> PoolByteArray:
	var b = _writer()
	_put_str16(b, circuit)
	b.put_u32(count)
	return frame(MSG_SPAWN, seq, b.data_array)


static func despawn(seq: int, ids: PoolIntArray) -> PoolByteArray:
	var b = _writer()
	_put_ids(b, ids)
	return frame(MSG_DESPAWN, seq, b.data_array)


static func claim(seq: int, ids: PoolIntArray) -> PoolByteArray:
	var b = _writer()
	_put_ids(b, ids)
	return frame(MSG_CLAIM, seq, b.data_array)


static func exchange(seq: int, epoch: int, frame_dt: float, sensors: PoolRealArray) -> PoolByteArray:
	var b = _writer()
	b.put_u32(epoch)
	b.put_double(frame_dt)
	b.put_u32(0)
	b.put_u32(sensors.size())
	b.put_data(floats_to_bytes(sensors))
	return frame(MSG_EXCHANGE, seq, b.data_array)


static func reward(seq: int, ids: PoolIntArray, rewards: PoolRealArray) -> PoolByteArray:
	var b = _writer()
	_put_ids(b, ids)
	b.put_data(floats_to_bytes(rewards))
	return frame(MSG_REWARD, seq, b.data_array)


static func set_learning(seq: int, enabled: bool) -> PoolByteArray:
	var b = _writer()
	b.put_u8(1 if enabled else 0)
	return frame(MSG_SET_LEARNING, seq, b.data_array)


static func subscribe(seq: int, population: String, ids: PoolIntArray) -> PoolByteArray:
	var b = _writer()
	_put_str16(b, population)
	_put_ids(b, ids)
	return frame(MSG_SUBSCRIBE, seq, b.data_array)


static func unsubscribe(seq: int, sub_id: int) -> PoolByteArray:
	var b = _writer()
	b.put_u32(sub_id)
	return frame(MSG_UNSUBSCRIBE, seq, b.data_array)


static func snapshot(seq: int, snapshot_name: String, load_instead: bool) -> PoolByteArray:
	var b = _writer()
	_put_str16(b, snapshot_name)
	return frame(MSG_LOAD if load_instead else MSG_SAVE, seq, b.data_array)


static func ping(seq: int, data: PoolByteArray) -> PoolByteArray:
	return frame(MSG_PING, seq, data)


static func bye(seq: int, keep: bool) -> PoolByteArray:
	var b = _writer()
	b.put_u8(1 if keep else 0)
	return frame(MSG_BYE, seq, b.data_array)


# ------------------------------------------------------------------ decoding
static func _reader(payload: PoolByteArray) -> StreamPeerBuffer:
	var b = StreamPeerBuffer.new()
	b.big_endian = false
	b.data_array = payload
	return b


static func _has(b: StreamPeerBuffer, n: int) -> bool:
	return b.get_available_bytes() >= n


static func _get_str16(b: StreamPeerBuffer) -> String:
	if not _has(b, 2):
		return ""
	var n = b.get_u16()
	if not _has(b, n):
		b.seek(b.get_size())
		return ""
	return b.get_utf8_string(n)


static func _get_u32s(b: StreamPeerBuffer) -> PoolIntArray:
	var out = PoolIntArray()
	if not _has(b, 4):
		return out
	var n = b.get_u32()
	if not _has(b, 4 * n):
		b.seek(b.get_size())
		return out
	out.resize(n)
	for i in n:
		out[i] = b.get_u32()
	return out


static func _get_f32s(b: StreamPeerBuffer, payload: PoolByteArray, n: int) -> PoolRealArray:
	var start = b.get_position()
	if n == 0:
		return PoolRealArray()
	if not _has(b, 4 * n):
		b.seek(b.get_size())
		return PoolRealArray()
	b.seek(start + 4 * n)
	return bytes_to_floats(payload.subarray(start, start + 4 * n - 1), n)


static func decode_header(header: PoolByteArray) -> Dictionary:
	if header.size() < HEADER_BYTES:
		return {"error": "header: need 12 bytes, got %d" % header.size()}
	var b = _reader(header)
	return {"length": b.get_u32(), "type": b.get_u16(), "flags": b.get_u16(), "seq": b.get_u32()}


static func decode_error(payload: PoolByteArray) -> Dictionary:
	var b = _reader(payload)
	if not _has(b, 3):
		return {"error": "ERROR payload too short"}
	var code = b.get_u16()
	var fatal = b.get_u8() == 1
	return {"code": code, "fatal": fatal, "message": _get_str16(b)}


static func decode_welcome(payload: PoolByteArray) -> Dictionary:
	var b = _reader(payload)
	if not _has(b, 8):
		return {"error": "WELCOME payload too short"}
	var out = {"major": b.get_u16(), "minor": b.get_u16(), "session_id": b.get_u32()}
	out["resume_token"] = _get_str16(b)
	if not _has(b, 1 + 8 + 4 + 4):
		return {"error": "WELCOME payload too short"}
	out["resumed"] = b.get_u8() == 1
	out["dt"] = b.get_double()
	out["max_substeps"] = b.get_u32()
	out["max_frame_bytes"] = b.get_u32()
	out["server_version"] = _get_str16(b)
	if not _has(b, 4):
		return {"error": "WELCOME payload too short"}
	out["epoch"] = b.get_u32()
	return out


static func _get_organs(b: StreamPeerBuffer) -> Array:
	var organs = []
	if not _has(b, 2):
		return organs
	var n = b.get_u16()
	for _i in n:
		var organ_name = _get_str16(b)
		if not _has(b, 12):
			break
		organs.append({"name": organ_name, "channels": b.get_u32(), "low": b.get_float(), "high": b.get_float()})
	return organs


static func decode_circuits(payload: PoolByteArray) -> Dictionary:
	var b = _reader(payload)
	var circuits = []
	if not _has(b, 2):
		return {"error": "CIRCUITS payload too short"}
	var n = b.get_u16()
	for _i in n:
		var circuit_name = _get_str16(b)
		if not _has(b, 4):
			return {"error": "CIRCUITS payload too short"}
		var c = {"name": circuit_name, "neurons": b.get_u32()}
		c["sensors"] = _get_organs(b)
		c["actuators"] = _get_organs(b)
		var pops = []
		if not _has(b, 2):
			return {"error": "CIRCUITS payload too short"}
		var n_pops = b.get_u16()
		for _j in n_pops:
			var pop_name = _get_str16(b)
			if not _has(b, 4):
				return {"error": "CIRCUITS payload too short"}
			pops.append({"name": pop_name, "size": b.get_u32()})
		c["populations"] = pops
		circuits.append(c)
	return {"circuits": circuits}


static func _get_blocks(b: StreamPeerBuffer) -> Array:
	var blocks = []
	if not _has(b, 2):
		return blocks
	var n = b.get_u16()
	for _i in n:
		var circuit_name = _get_str16(b)
		var organ_name = _get_str16(b)
		if not _has(b, 12):
			break
		blocks.append({"circuit": circuit_name, "organ": organ_name,
			"rows": b.get_u32(), "cols": b.get_u32(), "offset": b.get_u32()})
	return blocks


static func _read_layout(b: StreamPeerBuffer) -> Dictionary:
	if not _has(b, 6):
		return {"error": "LAYOUT too short"}
	var out = {"epoch": b.get_u32()}
	var groups = []
	var n = b.get_u16()
	for _i in n:
		var circuit_name = _get_str16(b)
		groups.append({"circuit": circuit_name, "brain_ids": _get_u32s(b)})
	out["groups"] = groups
	if not _has(b, 8):
		return {"error": "LAYOUT too short"}
	out["sensor_floats"] = b.get_u32()
	out["actuator_floats"] = b.get_u32()
	out["sensor_blocks"] = _get_blocks(b)
	out["actuator_blocks"] = _get_blocks(b)
	return out


static func decode_layout(payload: PoolByteArray) -> Dictionary:
	return _read_layout(_reader(payload))


static func decode_spawned(payload: PoolByteArray) -> Dictionary:
	var b = _reader(payload)
	var ids = _get_u32s(b)
	return {"brain_ids": ids, "layout": _read_layout(b)}


# Spike batches: "brain_ids" and "neurons" are PoolIntArrays; the i64 steps stay as
# "step_words" (PoolIntArray, two 32-bit words per spike; Godot 3 has no 64-bit packed
# array): spike_step(step_words, k) gives spike k's step. All three are converted by
# the engine (bytes2var), not by a GDScript loop.
static func decode_exchange_result(payload: PoolByteArray) -> Dictionary:
	var b = _reader(payload)
	if not _has(b, 24):
		return {"error": "EXCHANGE_RESULT payload too short"}
	var out = {"epoch": b.get_u32(), "steps": b.get_u32(), "alpha": b.get_float(),
		"flags": b.get_u32(), "sim_us": b.get_u32()}
	var n = b.get_u32()
	out["actuators"] = _get_f32s(b, payload, n)
	var batches = []
	if _has(b, 2):
		var n_batches = b.get_u16()
		for _i in n_batches:
			if not _has(b, 9):
				return {"error": "EXCHANGE_RESULT spike batch too short"}
			var batch = {"sub_id": b.get_u32(), "truncated": b.get_u8() == 1}
			var count = b.get_u32()
			if not _has(b, 16 * count):
				return {"error": "EXCHANGE_RESULT spike batch too short"}
			var pos = b.get_position()
			if count > 0:
				batch["step_words"] = bytes_to_ints(payload.subarray(pos, pos + 8 * count - 1), 2 * count)
				batch["brain_ids"] = bytes_to_ints(payload.subarray(pos + 8 * count, pos + 12 * count - 1), count)
				batch["neurons"] = bytes_to_ints(payload.subarray(pos + 12 * count, pos + 16 * count - 1), count)
			else:
				batch["step_words"] = PoolIntArray()
				batch["brain_ids"] = PoolIntArray()
				batch["neurons"] = PoolIntArray()
			b.seek(pos + 16 * count)
			batches.append(batch)
	out["batches"] = batches
	return out


static func decode_subscribed(payload: PoolByteArray) -> Dictionary:
	var b = _reader(payload)
	if not _has(b, 4):
		return {"error": "SUBSCRIBED payload too short"}
	return {"sub_id": b.get_u32()}


static func decode_stats(payload: PoolByteArray) -> Dictionary:
	var b = _reader(payload)
	if not _has(b, 4):
		return {"error": "STATS_RESULT payload too short"}
	var n = b.get_u32()
	if not _has(b, n):
		return {"error": "STATS_RESULT payload too short"}
	var text = b.get_utf8_string(n)
	var parsed = JSON.parse(text)
	return {"json": text, "stats": parsed.result if parsed.error == OK and typeof(parsed.result) == TYPE_DICTIONARY else {}}
