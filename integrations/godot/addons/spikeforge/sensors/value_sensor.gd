@icon("res://addons/spikeforge/icons/value_sensor.svg")
class_name ValueSensor
extends SpikeforgeSensor
## Scalar (or vector) values from the game, fed to a sensor organ as they are.
##
## Either read a property every physics frame ([member source] + [member property];
## a float/int gives 1 channel, Vector2 gives 2, Vector3 gives 3, a packed float
## array gives its length, a bool gives 0 or 1) or set values from your own script
## with [method set_value] / [method set_values]. The server clips each channel
## to the organ's [low, high] range; NaN and infinities are replaced by 0 here so
## one bad value never fails the whole exchange.

## Number of channels the organ has.
@export_range(1, 4096) var channels: int = 1:
	set(value):
		channels = maxi(1, value)
		values.resize(channels)
## Node to read [member property] from each frame; leave empty to set values by script.
@export var source: NodePath
## Property (or property path such as "position:x") read from [member source].
@export var property: StringName
## Multiplied into every value read from [member source] (e.g. 1/max_health).
@export var scale: float = 1.0

## Current values (one per channel), sent with the next exchange.
var values: PackedFloat32Array = PackedFloat32Array([0.0])


func _init() -> void:
	organ = &"value"


## The organ's channel count.
func channel_count() -> int:
	return channels


## Set channel [param channel] to [param value].
func set_value(channel: int, value: float) -> void:
	if channel < 0 or channel >= channels:
		push_error("ValueSensor %s: channel %d out of range 0..%d" % [name, channel, channels - 1])
		return
	values[channel] = value


## Set all channels at once; [param new_values] must have [member channels] entries.
func set_values(new_values: PackedFloat32Array) -> void:
	if new_values.size() != channels:
		push_error(
			"ValueSensor %s: expected %d values, got %d" % [name, channels, new_values.size()]
		)
		return
	values = new_values.duplicate()


## The values for this frame (reads [member source] first when set).
func get_values() -> PackedFloat32Array:
	if not source.is_empty() and property != &"":
		_read_source()
	var out := values.duplicate()
	out.resize(channels)
	for i in channels:
		if is_nan(out[i]) or is_inf(out[i]):
			out[i] = 0.0
	return out


func _read_source() -> void:
	var node := get_node_or_null(source)
	if node == null:
		push_error("ValueSensor %s: source %s not found" % [name, source])
		return
	var v: Variant = node.get_indexed(NodePath(String(property)))
	var flat := PackedFloat32Array()
	match typeof(v):
		TYPE_FLOAT, TYPE_INT:
			flat.append(float(v))
		TYPE_BOOL:
			flat.append(1.0 if v else 0.0)
		TYPE_VECTOR2:
			var v2: Vector2 = v
			flat.append_array(PackedFloat32Array([v2.x, v2.y]))
		TYPE_VECTOR3:
			var v3: Vector3 = v
			flat.append_array(PackedFloat32Array([v3.x, v3.y, v3.z]))
		TYPE_PACKED_FLOAT32_ARRAY:
			flat = v
		TYPE_PACKED_FLOAT64_ARRAY, TYPE_PACKED_INT32_ARRAY, TYPE_ARRAY:
			flat = PackedFloat32Array(Array(v))
		_:
			push_error(
				"ValueSensor %s: property %s has type %s, expected a number or vector"
				% [name, property, type_string(typeof(v))]
			)
			return
	for i in mini(channels, flat.size()):
		values[i] = flat[i] * scale
