class_name SpikeforgeClient
extends RefCounted
## A blocking request/reply connection to [code]spikeforge serve[/code] over TCP.
##
## Every request waits for its one reply (with a timeout); the encoding is done by
## [SpikeforgeProtocol]. Methods return the decoded reply Dictionary, or a
## Dictionary with [code]"error"[/code] (text), [code]"code"[/code] (protocol error code,
## 0 for transport errors) and [code]"fatal"[/code] when something went wrong. After a
## transport error or a fatal ERROR frame [method is_connected_to_server] is false.

const P := preload("res://addons/spikeforge/protocol.gd")

## Seconds to wait for a reply before the connection is considered dead.
var reply_timeout: float = 10.0
## Microseconds to sleep between polls while waiting for a reply.
var poll_sleep_usec: int = 20

var welcome: Dictionary = {}
var last_error: Dictionary = {}
## [method Time.get_ticks_msec] when the last frame was sent (the server's idle timeout
## counts from the last frame it received; see [method ping]).
var last_send_msec: int = 0
## Message type of the last request sent whose reply never came (the connection broke
## while it was in flight); 0 once a reply (or an ERROR frame) was read. [method open]
## keeps it, so a resumed session can reconcile (PROTOCOL.md section 6).
var unanswered: int = 0

var _tcp: StreamPeerTCP = null
var _seq: int = 0
var _connected: bool = false


## Next request number (1, 2, ...).
func next_seq() -> int:
	_seq += 1
	return _seq


func is_connected_to_server() -> bool:
	return _connected


## Open the TCP connection (waits up to [param timeout] s) and do the handshake.
## Returns the WELCOME Dictionary or an error Dictionary.
func open(
	host: String, port: int, token: String, client_name: String, resume_token: String,
	timeout: float
) -> Dictionary:
	close()
	_tcp = StreamPeerTCP.new()
	_tcp.big_endian = false
	var err := _tcp.connect_to_host(host, port)
	if err != OK:
		return _fail(0, "connect to %s:%d failed: %s" % [host, port, error_string(err)], true)
	var deadline := Time.get_ticks_msec() + int(timeout * 1000.0)
	while true:
		_tcp.poll()
		var status := _tcp.get_status()
		if status == StreamPeerTCP.STATUS_CONNECTED:
			break
		if status == StreamPeerTCP.STATUS_ERROR or Time.get_ticks_msec() > deadline:
			return _fail(0, "connect to %s:%d failed (status %d)" % [host, port, status], true)
		OS.delay_usec(1000)
	_tcp.set_no_delay(true)
	_connected = true
	var lost := unanswered
	var reply := request(P.hello(next_seq(), client_name, token, resume_token))
	unanswered = lost
	if reply.has("error"):
		return reply
	if reply["type"] != P.MSG_WELCOME:
		return _fail(0, "handshake: expected WELCOME, got type %d" % reply["type"], true)
	welcome = P.decode_welcome(reply["payload"])
	return welcome


## Close the connection (without BYE: the server keeps the session for its grace period).
func close() -> void:
	if _tcp != null:
		_tcp.disconnect_from_host()
	_tcp = null
	_connected = false


## Send BYE ([param keep] brains for the grace period or not) and close.
func bye(keep: bool) -> void:
	if _connected:
		request(P.bye(next_seq(), keep))
	close()


## Send raw frame bytes without waiting (for pipelining); false on a transport error.
func send(frame_bytes: PackedByteArray) -> bool:
	if not _connected:
		return false
	var err := _tcp.put_data(frame_bytes)
	if err != OK:
		_fail(0, "send failed: %s" % error_string(err), true)
		return false
	last_send_msec = Time.get_ticks_msec()
	if frame_bytes.size() >= P.HEADER_BYTES:
		unanswered = frame_bytes.decode_u16(4)
	return true


## Round trip of a PING (its PONG is read here, checked by type and seq): keeps an idle
## connection alive (the server drops one silent for its [code]--idle-timeout[/code]).
## Returns the PONG reply, or an error Dictionary. Call it only between requests: every
## request here waits for its own reply, so no other reply can be pending.
func ping() -> Dictionary:
	var seq := next_seq()
	var reply := request(P.ping(seq, PackedByteArray()))
	if reply.has("error"):
		return reply
	if int(reply["type"]) != P.MSG_PONG or int(reply["seq"]) != seq:
		return _fail(0, "PING: expected PONG seq %d, got type %d seq %d" % [
			seq, int(reply["type"]), int(reply["seq"])], true)
	return reply


## Read one reply frame: {"type", "seq", "payload"}, or an error Dictionary
## (an ERROR frame from the server is decoded into one).
func receive() -> Dictionary:
	var header := _read_exactly(P.HEADER_BYTES)
	if header.size() != P.HEADER_BYTES:
		return last_error
	var h := P.decode_header(header)
	var payload := _read_exactly(int(h["length"]) - 8)
	if payload.size() != int(h["length"]) - 8:
		return last_error
	unanswered = 0
	if h["type"] == P.MSG_ERROR:
		var e := P.decode_error(payload)
		return _fail(int(e.get("code", 0)), String(e.get("message", "")), bool(e.get("fatal", true)))
	return {"type": h["type"], "seq": h["seq"], "payload": payload}


## Send one request frame and wait for its reply.
func request(frame_bytes: PackedByteArray) -> Dictionary:
	if not send(frame_bytes):
		return last_error
	return receive()


func _read_exactly(n: int) -> PackedByteArray:
	if n <= 0:
		return PackedByteArray()
	var deadline := Time.get_ticks_msec() + int(reply_timeout * 1000.0)
	while _connected:
		_tcp.poll()
		if _tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED:
			_fail(0, "connection closed by the server", true)
			break
		if _tcp.get_available_bytes() >= n:
			var got: Array = _tcp.get_data(n)
			if got[0] != OK:
				_fail(0, "read failed: %s" % error_string(got[0]), true)
				break
			return got[1]
		if Time.get_ticks_msec() > deadline:
			_fail(0, "no reply within %.1f s" % reply_timeout, true)
			break
		OS.delay_usec(poll_sleep_usec)
	return PackedByteArray()


func _fail(code: int, message: String, fatal: bool) -> Dictionary:
	last_error = {"error": message, "code": code, "fatal": fatal}
	if fatal:
		close()
	return last_error
