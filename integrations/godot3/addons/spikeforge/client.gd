extends Reference
class_name SpikeforgeClient
# Blocking request/reply connection to `spikeforge serve` over TCP (Godot 3).
# Methods return the reply {"type", "seq", "payload"} or an error Dictionary
# {"error": text, "code": protocol error code (0 = transport), "fatal": bool}.

const Proto = preload("res://addons/spikeforge/protocol.gd")

var reply_timeout = 10.0
var poll_sleep_usec = 20
var welcome = {}
var last_error = {}
# OS.get_ticks_msec() when the last frame was sent (the server's idle timeout counts from
# the last frame it received; see ping()).
var last_send_msec = 0
# Message type of the last request sent whose reply never came (the connection broke
# while it was in flight); 0 once a reply (or an ERROR frame) was read. open() keeps it,
# so a resumed session can reconcile (PROTOCOL.md section 6).
var unanswered = 0

var _tcp: StreamPeerTCP = null
var _seq = 0
var _connected = false


func next_seq() -> int:
	_seq += 1
	return _seq


func is_connected_to_server() -> bool:
	return _connected


func open(host: String, port: int, token: String, client_name: String, resume_token: String, timeout: float) -> Dictionary:
	close()
	_tcp = StreamPeerTCP.new()
	_tcp.big_endian = false
	var err = _tcp.connect_to_host(host, port)
	if err != OK:
		return _fail(0, "connect to %s:%d failed (error %d)" % [host, port, err], true)
	var deadline = OS.get_ticks_msec() + int(timeout * 1000.0)
	while true:
		var status = _tcp.get_status()
		if status == StreamPeerTCP.STATUS_CONNECTED:
			break
		if status == StreamPeerTCP.STATUS_ERROR or status == StreamPeerTCP.STATUS_NONE or OS.get_ticks_msec() > deadline:
			return _fail(0, "connect to %s:%d failed (status %d)" % [host, port, status], true)
		OS.delay_usec(1000)
	_tcp.set_no_delay(true)
	_connected = true
	var lost = unanswered
	var reply = request(Proto.hello(next_seq(), client_name, token, resume_token))
	unanswered = lost
	if reply.has("error"):
		return reply
	if reply["type"] != Proto.MSG_WELCOME:
		return _fail(0, "handshake: expected WELCOME, got type %d" % reply["type"], true)
	welcome = Proto.decode_welcome(reply["payload"])
	return welcome


func close() -> void:
	if _tcp != null:
		_tcp.disconnect_from_host()
	_tcp = null
	_connected = false


func bye(keep: bool) -> void:
	if _connected:
		request(Proto.bye(next_seq(), keep))
	close()


func send(frame_bytes: PoolByteArray) -> bool:
	if not _connected:
		return false
	var err = _tcp.put_data(frame_bytes)
	if err != OK:
		_fail(0, "send failed (error %d)" % err, true)
		return false
	last_send_msec = OS.get_ticks_msec()
	if frame_bytes.size() >= Proto.HEADER_BYTES:
		unanswered = frame_bytes[4] | (frame_bytes[5] << 8)
	return true


# Round trip of a PING (its PONG is read here, checked by type and seq): keeps an idle
# connection alive (the server drops one silent for its --idle-timeout). Returns the
# PONG reply or an error Dictionary. Call it between requests only: every request here
# waits for its own reply, so no other reply can be pending.
func ping() -> Dictionary:
	var seq = next_seq()
	var reply = request(Proto.ping(seq, PoolByteArray()))
	if reply.has("error"):
		return reply
	if int(reply["type"]) != Proto.MSG_PONG or int(reply["seq"]) != seq:
		return _fail(0, "PING: expected PONG seq %d, got type %d seq %d" % [
			seq, int(reply["type"]), int(reply["seq"])], true)
	return reply


func receive() -> Dictionary:
	var header = _read_exactly(Proto.HEADER_BYTES)
	if header.size() != Proto.HEADER_BYTES:
		return last_error
	var h = Proto.decode_header(header)
	var n = int(h["length"]) - 8
	var payload = _read_exactly(n)
	if payload.size() != n:
		return last_error
	unanswered = 0
	if h["type"] == Proto.MSG_ERROR:
		var e = Proto.decode_error(payload)
		return _fail(int(e.get("code", 0)), str(e.get("message", "")), bool(e.get("fatal", true)))
	return {"type": h["type"], "seq": h["seq"], "payload": payload}


func request(frame_bytes: PoolByteArray) -> Dictionary:
	if not send(frame_bytes):
		return last_error
	return receive()


func _read_exactly(n: int) -> PoolByteArray:
	if n <= 0:
		return PoolByteArray()
	var deadline = OS.get_ticks_msec() + int(reply_timeout * 1000.0)
	while _connected:
		if _tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED:
			_fail(0, "connection closed by the server", true)
			break
		if _tcp.get_available_bytes() >= n:
			var got = _tcp.get_data(n)
			if got[0] != OK:
				_fail(0, "read failed (error %d)" % got[0], true)
				break
			return got[1]
		if OS.get_ticks_msec() > deadline:
			_fail(0, "no reply within %.1f s" % reply_timeout, true)
			break
		OS.delay_usec(poll_sleep_usec)
	return PoolByteArray()


func _fail(code: int, message: String, fatal: bool) -> Dictionary:
	last_error = {"error": message, "code": code, "fatal": fatal}
	if fatal:
		close()
	return last_error
