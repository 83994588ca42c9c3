class_name SpikeforgeProtocol
extends RefCounted
## Pure encoder/decoder for the spikeforge wire protocol 1.0
## ([code]integrations/PROTOCOL.md[/code]).
##
## Every encoder is a static function that returns one complete frame as a
## [PackedByteArray] (length, type, flags, seq, payload), built only from its
## arguments: the same inputs always give the same bytes. The frames recorded in
## [code]tests/frames/*.hex[/code] are this encoder's output for the inputs listed in
## [code]tests/frames/cases.json[/code]; a pytest replays them against a real server.
## Decoders take a reply payload (the bytes after the 12-byte header) and return a
## Dictionary; a payload too short for its fields gives [code]{"error": "..."}[/code].

const MAGIC: int = 0x464B5053
const MAJOR: int = 1
const MINOR: int = 0
const HEADER_BYTES: int = 12

const MSG_HELLO: int = 0x0001
const MSG_WELCOME: int = 0x0002
const MSG_ERROR: int = 0x0003
const MSG_OK: int = 0x0004
const MSG_PING: int = 0x0005
const MSG_PONG: int = 0x0006
const MSG_BYE: int = 0x0007
const MSG_LIST_CIRCUITS: int = 0x0010
const MSG_CIRCUITS: int = 0x0011
const MSG_UPLOAD_GENOME: int = 0x0012
const MSG_SPAWN: int = 0x0020
const MSG_SPAWNED: int = 0x0021
const MSG_DESPAWN: int = 0x0022
const MSG_LAYOUT: int = 0x0023
const MSG_GET_LAYOUT: int = 0x0024
const MSG_CLAIM: int = 0x0025
const MSG_EXCHANGE: int = 0x0030
const MSG_EXCHANGE_RESULT: int = 0x0031
const MSG_SUBSCRIBE: int = 0x0032
const MSG_SUBSCRIBED: int = 0x0033
const MSG_UNSUBSCRIBE: int = 0x0034
const MSG_REWARD: int = 0x0040
const MSG_SET_LEARNING: int = 0x0041
const MSG_SAVE: int = 0x0050
const MSG_LOAD: int = 0x0051
const MSG_STATS: int = 0x0060
const MSG_STATS_RESULT: int = 0x0061

const ERR_NOT_FOUND: int = 7
const ERR_STALE_LAYOUT: int = 11
const ERR_UNSUPPORTED: int = 12


# --------------------------------------------------------------------- encoding
static func _writer() -> StreamPeerBuffer:
	var b := StreamPeerBuffer.new()
	b.big_endian = false
	return b


static func _put_str16(b: StreamPeerBuffer, text: String) -> void:
	var bytes := text.to_utf8_buffer()
	b.put_u16(bytes.size())
	b.put_data(bytes)


static func _put_ids(b: StreamPeerBuffer, ids: PackedInt32Array) -> void:
	b.put_u32(ids.size())
	for i in ids.size():
		b.put_u32(ids[i])


## Wrap [param payload] in a frame header: u32 length, u16 type, u16 flags = 0, u32 seq.
static func frame(type: int, seq: int, payload: PackedByteArray) -> PackedByteArray:
	var b := _writer()
	b.put_u32(8 + payload.size())
	b.put_u16(type)
	b.put_u16(0)
	b.put_u32(seq)
	b.put_data(payload)
	return b.data_array


## A frame whose payload is empty (LIST_CIRCUITS, GET_LAYOUT, STATS, ...).
static func empty(type: int, seq: int) -> PackedByteArray:
	return frame(type, seq, PackedByteArray())


## HELLO: magic, version 1.0, client name, token, resume token ("" for a new session).
static func hello(
	seq: int, client_name: String, token: String, resume_token: String
) -> PackedByteArray:
	var b := _writer()
	b.put_u32(MAGIC)
	b.put_u16(MAJOR)
	b.put_u16(MINOR)
	_put_str16(b, client_name)
	_put_str16(b, token)
	_put_str16(b, resume_token)
	return frame(MSG_HELLO, seq, b.data_array)


## UPLOAD_GENOME: the genome JSON text (str32).
static func upload_genome(seq: int, genome_json: String) -> PackedByteArray:
	var b := _writer()
	var bytes := genome_json.to_utf8_buffer()
	b.put_u32(bytes.size())
	b.put_data(bytes)
	return frame(MSG_UPLOAD_GENOME, seq, b.data_array)


## SPAWN [param count] brains of circuit [param circuit].
static func spawn(seq: int, circuit: String, count: int) -> PackedByteArray:
	var b := _writer()
	_put_str16(b, circuit)
	b.put_u32(count)
	return frame(MSG_SPAWN, seq, b.data_array)


## DESPAWN the brains [param ids] (all must belong to this client).
static func despawn(seq: int, ids: PackedInt32Array) -> PackedByteArray:
	var b := _writer()
	_put_ids(b, ids)
	return frame(MSG_DESPAWN, seq, b.data_array)


## CLAIM unowned brains ([param ids] empty = all of them).
static func claim(seq: int, ids: PackedInt32Array) -> PackedByteArray:
	var b := _writer()
	_put_ids(b, ids)
	return frame(MSG_CLAIM, seq, b.data_array)


## EXCHANGE: layout epoch, frame time (s, f64), inline sensor floats (layout order).
static func exchange(
	seq: int, epoch: int, frame_dt: float, sensors: PackedFloat32Array
) -> PackedByteArray:
	var b := _writer()
	b.put_u32(epoch)
	b.put_double(frame_dt)
	b.put_u32(0)
	b.put_u32(sensors.size())
	b.put_data(sensors.to_byte_array())
	return frame(MSG_EXCHANGE, seq, b.data_array)


## REWARD: one reward per brain id ([param ids] and [param rewards] of equal size).
static func reward(
	seq: int, ids: PackedInt32Array, rewards: PackedFloat32Array
) -> PackedByteArray:
	var b := _writer()
	_put_ids(b, ids)
	b.put_data(rewards.to_byte_array())
	return frame(MSG_REWARD, seq, b.data_array)


## SET_LEARNING on or off for this client's brains.
static func set_learning(seq: int, enabled: bool) -> PackedByteArray:
	var b := _writer()
	b.put_u8(1 if enabled else 0)
	return frame(MSG_SET_LEARNING, seq, b.data_array)


## SUBSCRIBE to spikes of [param population] ("" = all neurons) of [param ids] (empty = all).
static func subscribe(seq: int, population: String, ids: PackedInt32Array) -> PackedByteArray:
	var b := _writer()
	_put_str16(b, population)
	_put_ids(b, ids)
	return frame(MSG_SUBSCRIBE, seq, b.data_array)


## UNSUBSCRIBE subscription [param sub_id].
static func unsubscribe(seq: int, sub_id: int) -> PackedByteArray:
	var b := _writer()
	b.put_u32(sub_id)
	return frame(MSG_UNSUBSCRIBE, seq, b.data_array)


## SAVE ([param load_instead] false) or LOAD a snapshot by name.
static func snapshot(seq: int, snapshot_name: String, load_instead: bool) -> PackedByteArray:
	var b := _writer()
	_put_str16(b, snapshot_name)
	return frame(MSG_LOAD if load_instead else MSG_SAVE, seq, b.data_array)


## PING with up to 1024 bytes of [param data] (echoed in PONG).
static func ping(seq: int, data: PackedByteArray) -> PackedByteArray:
	return frame(MSG_PING, seq, data)


## BYE; [param keep] true keeps the brains for the server's grace period.
static func bye(seq: int, keep: bool) -> PackedByteArray:
	var b := _writer()
	b.put_u8(1 if keep else 0)
	return frame(MSG_BYE, seq, b.data_array)


# --------------------------------------------------------------------- decoding
static func _reader(payload: PackedByteArray) -> StreamPeerBuffer:
	var b := StreamPeerBuffer.new()
	b.big_endian = false
	b.data_array = payload
	return b


static func _has(b: StreamPeerBuffer, n: int) -> bool:
	return b.get_available_bytes() >= n


static func _get_str16(b: StreamPeerBuffer) -> String:
	if not _has(b, 2):
		return ""
	var n := b.get_u16()
	if not _has(b, n):
		b.seek(b.get_size())
		return ""
	return b.get_utf8_string(n)


static func _get_u32s(b: StreamPeerBuffer) -> PackedInt32Array:
	var out := PackedInt32Array()
	if not _has(b, 4):
		return out
	var n := b.get_u32()
	if not _has(b, 4 * n):
		b.seek(b.get_size())
		return out
	out.resize(n)
	for i in n:
		out[i] = b.get_u32()
	return out


static func _get_f32s(b: StreamPeerBuffer, payload: PackedByteArray, n: int) -> PackedFloat32Array:
	var start := b.get_position()
	if not _has(b, 4 * n):
		b.seek(b.get_size())
		return PackedFloat32Array()
	b.seek(start + 4 * n)
	return payload.slice(start, start + 4 * n).to_float32_array()


## Split a frame header: {"length", "type", "flags", "seq"} from 12 bytes.
static func decode_header(header: PackedByteArray) -> Dictionary:
	if header.size() < HEADER_BYTES:
		return {"error": "header: need 12 bytes, got %d" % header.size()}
	var b := _reader(header)
	return {"length": b.get_u32(), "type": b.get_u16(), "flags": b.get_u16(), "seq": b.get_u32()}


## ERROR payload: {"code", "fatal", "message"}.
static func decode_error(payload: PackedByteArray) -> Dictionary:
	var b := _reader(payload)
	if not _has(b, 3):
		return {"error": "ERROR payload too short"}
	var code := b.get_u16()
	var fatal := b.get_u8() == 1
	return {"code": code, "fatal": fatal, "message": _get_str16(b)}


## WELCOME payload.
static func decode_welcome(payload: PackedByteArray) -> Dictionary:
	var b := _reader(payload)
	if not _has(b, 8):
		return {"error": "WELCOME payload too short"}
	var out := {"major": b.get_u16(), "minor": b.get_u16(), "session_id": b.get_u32()}
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
	var organs := []
	if not _has(b, 2):
		return organs
	var n := b.get_u16()
	for i in n:
		var organ_name := _get_str16(b)
		if not _has(b, 12):
			break
		organs.append({
			"name": organ_name, "channels": b.get_u32(), "low": b.get_float(), "high": b.get_float()
		})
	return organs


## CIRCUITS payload: {"circuits": [{"name", "neurons", "sensors", "actuators", "populations"}]}.
## Sensors/actuators are [{"name", "channels", "low", "high"}] (for actuators "channels"
## is the output width); populations are [{"name", "size"}].
static func decode_circuits(payload: PackedByteArray) -> Dictionary:
	var b := _reader(payload)
	var circuits := []
	if not _has(b, 2):
		return {"error": "CIRCUITS payload too short"}
	var n := b.get_u16()
	for i in n:
		var circuit_name := _get_str16(b)
		if not _has(b, 4):
			return {"error": "CIRCUITS payload too short"}
		var c := {"name": circuit_name, "neurons": b.get_u32()}
		c["sensors"] = _get_organs(b)
		c["actuators"] = _get_organs(b)
		var pops := []
		if not _has(b, 2):
			return {"error": "CIRCUITS payload too short"}
		var n_pops := b.get_u16()
		for j in n_pops:
			var pop_name := _get_str16(b)
			if not _has(b, 4):
				return {"error": "CIRCUITS payload too short"}
			pops.append({"name": pop_name, "size": b.get_u32()})
		c["populations"] = pops
		circuits.append(c)
	return {"circuits": circuits}


static func _get_blocks(b: StreamPeerBuffer) -> Array:
	var blocks := []
	if not _has(b, 2):
		return blocks
	var n := b.get_u16()
	for i in n:
		var circuit_name := _get_str16(b)
		var organ_name := _get_str16(b)
		if not _has(b, 12):
			break
		blocks.append({
			"circuit": circuit_name, "organ": organ_name,
			"rows": b.get_u32(), "cols": b.get_u32(), "offset": b.get_u32()
		})
	return blocks


static func _read_layout(b: StreamPeerBuffer) -> Dictionary:
	if not _has(b, 6):
		return {"error": "LAYOUT too short"}
	var out := {"epoch": b.get_u32()}
	var groups := []
	var n := b.get_u16()
	for i in n:
		var circuit_name := _get_str16(b)
		groups.append({"circuit": circuit_name, "brain_ids": _get_u32s(b)})
	out["groups"] = groups
	if not _has(b, 8):
		return {"error": "LAYOUT too short"}
	out["sensor_floats"] = b.get_u32()
	out["actuator_floats"] = b.get_u32()
	out["sensor_blocks"] = _get_blocks(b)
	out["actuator_blocks"] = _get_blocks(b)
	return out


## LAYOUT payload: {"epoch", "groups": [{"circuit", "brain_ids"}], "sensor_floats",
## "actuator_floats", "sensor_blocks", "actuator_blocks"}; a block is
## {"circuit", "organ", "rows", "cols", "offset"} (offset in floats).
static func decode_layout(payload: PackedByteArray) -> Dictionary:
	return _read_layout(_reader(payload))


## SPAWNED payload: {"brain_ids", "layout"}.
static func decode_spawned(payload: PackedByteArray) -> Dictionary:
	var b := _reader(payload)
	var ids := _get_u32s(b)
	return {"brain_ids": ids, "layout": _read_layout(b)}


## EXCHANGE_RESULT payload: {"epoch", "steps", "alpha", "flags", "sim_us", "actuators",
## "batches": [{"sub_id", "truncated", "steps", "brain_ids", "neurons"}]}.
## Spike arrays are converted natively (steps: PackedInt64Array, ids and neurons:
## PackedInt32Array), never by a GDScript loop.
static func decode_exchange_result(payload: PackedByteArray) -> Dictionary:
	var b := _reader(payload)
	if not _has(b, 24):
		return {"error": "EXCHANGE_RESULT payload too short"}
	var out := {
		"epoch": b.get_u32(), "steps": b.get_u32(), "alpha": b.get_float(),
		"flags": b.get_u32(), "sim_us": b.get_u32()
	}
	var n := b.get_u32()
	out["actuators"] = _get_f32s(b, payload, n)
	var batches := []
	if _has(b, 2):
		var n_batches := b.get_u16()
		for i in n_batches:
			if not _has(b, 9):
				return {"error": "EXCHANGE_RESULT spike batch too short"}
			var batch := {"sub_id": b.get_u32(), "truncated": b.get_u8() == 1}
			var count := b.get_u32()
			if not _has(b, 16 * count):
				return {"error": "EXCHANGE_RESULT spike batch too short"}
			var pos := b.get_position()
			batch["steps"] = payload.slice(pos, pos + 8 * count).to_int64_array()
			batch["brain_ids"] = payload.slice(pos + 8 * count, pos + 12 * count).to_int32_array()
			batch["neurons"] = payload.slice(pos + 12 * count, pos + 16 * count).to_int32_array()
			b.seek(pos + 16 * count)
			batches.append(batch)
	out["batches"] = batches
	return out


## SUBSCRIBED payload: {"sub_id"}.
static func decode_subscribed(payload: PackedByteArray) -> Dictionary:
	var b := _reader(payload)
	if not _has(b, 4):
		return {"error": "SUBSCRIBED payload too short"}
	return {"sub_id": b.get_u32()}


## STATS_RESULT payload: {"json": String, "stats": parsed Dictionary}.
static func decode_stats(payload: PackedByteArray) -> Dictionary:
	var b := _reader(payload)
	if not _has(b, 4):
		return {"error": "STATS_RESULT payload too short"}
	var n := b.get_u32()
	if not _has(b, n):
		return {"error": "STATS_RESULT payload too short"}
	var text := b.get_utf8_string(n)
	var parsed: Variant = JSON.parse_string(text)
	return {"json": text, "stats": parsed if parsed is Dictionary else {}}
