@tool
@icon("res://addons/spikeforge/icons/sensor_3d.svg")
class_name SpikeforgeSensor3D
extends Node3D
## Base class of a 3D sensor node: a [SpikeforgeSensor] that has a 3D transform
## (like the rays of [RaycastSensor3D]), so it can sit under a moving body and follow it.
##
## The contract is the one of [SpikeforgeSensor]: set [member organ] and override
## [method channel_count] and [method get_values].

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
