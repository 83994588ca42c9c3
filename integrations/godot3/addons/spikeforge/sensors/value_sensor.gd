extends Node
class_name ValueSensor
# Values from the game fed to a sensor organ: either read `property` of `source` every
# frame (float/int: 1 channel, bool: 0/1, Vector2: 2, Vector3: 3, PoolRealArray: its
# length) or set them with set_value()/set_values(). NaN/inf are sent as 0.

# Name of the sensor organ in the circuit this sensor feeds.
export(String) var organ = "value"
# Number of channels of the organ.
export(int, 1, 4096) var channels = 1 setget _set_channels
# Node to read `property` from each frame; empty: set values by script.
export(NodePath) var source
# Property (or path such as "position:x") read from `source`.
export(String) var property = ""
# Multiplied into every value read from `source`.
export(float) var scale = 1.0

var values = PoolRealArray([0.0])


func channel_count() -> int:
	return channels


func set_value(channel: int, value: float) -> void:
	if channel < 0 or channel >= channels:
		push_error("ValueSensor %s: channel %d out of range 0..%d" % [name, channel, channels - 1])
		return
	values[channel] = value


func set_values(new_values: PoolRealArray) -> void:
	if new_values.size() != channels:
		push_error("ValueSensor %s: expected %d values, got %d" % [name, channels, new_values.size()])
		return
	values = new_values


func get_values() -> PoolRealArray:
	if source != null and not source.is_empty() and property != "":
		_read_source()
	var out = values
	out.resize(channels)
	for i in channels:
		if is_nan(out[i]) or is_inf(out[i]):
			out[i] = 0.0
	return out


func _read_source() -> void:
	var node = get_node_or_null(source)
	if node == null:
		push_error("ValueSensor %s: source %s not found" % [name, source])
		return
	var v = node.get_indexed(property)
	var flat = PoolRealArray()
	match typeof(v):
		TYPE_REAL, TYPE_INT:
			flat.append(float(v))
		TYPE_BOOL:
			flat.append(1.0 if v else 0.0)
		TYPE_VECTOR2:
			flat.append_array(PoolRealArray([v.x, v.y]))
		TYPE_VECTOR3:
			flat.append_array(PoolRealArray([v.x, v.y, v.z]))
		TYPE_REAL_ARRAY:
			flat = v
		TYPE_INT_ARRAY, TYPE_ARRAY:
			flat = PoolRealArray(Array(v))
		_:
			push_error("ValueSensor %s: property %s has type %d, expected a number or vector" % [name, property, typeof(v)])
			return
	for i in min(channels, flat.size()):
		values[i] = flat[i] * scale


func _set_channels(value: int) -> void:
	channels = max(1, value)
	values.resize(channels)
