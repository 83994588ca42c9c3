@icon("res://addons/spikeforge/icons/sensor.svg")
class_name SpikeforgeSensor
extends Node
## Base class of a sensor node: feeds one sensor organ of its agent's brain.
##
## Extend it (or [SpikeforgeSensor2D] / [SpikeforgeSensor3D] for a sensor with a
## position) to write your own sensor: set [member organ] to the organ's name in the
## circuit and override [method channel_count] and [method get_values]. The
## [BrainAgent] of the body finds it among the body's descendants; [SpikeforgeWorld]
## calls [method get_values] once per physics frame, before the exchange.
## [codeblock]
## class_name HealthSensor
## extends SpikeforgeSensor
##
## func _init() -> void:
##     organ = &"health"
##
## func channel_count() -> int:
##     return 1
##
## func get_values() -> PackedFloat32Array:
##     var body := get_parent()
##     return PackedFloat32Array([body.health / body.max_health])
## [/codeblock]

## Name of the sensor organ in the circuit (genome) this sensor feeds.
@export var organ: StringName = &""


## Number of values [method get_values] returns (the organ's channel count). Override.
func channel_count() -> int:
	push_error("%s %s: channel_count() is not overridden" % [get_class(), name])
	return 0


## The values for this frame, one per channel (the server clips them to the organ's
## [low, high] range). Override.
func get_values() -> PackedFloat32Array:
	push_error("%s %s: get_values() is not overridden" % [get_class(), name])
	return PackedFloat32Array()
