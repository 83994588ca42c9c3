@icon("res://addons/spikeforge/icons/actuator.svg")
class_name SpikeforgeActuator
extends Node
## Base class of an actuator node: acts on one actuator organ's outputs.
##
## Extend it to write your own actuator: set [member organ] to the organ's name in the
## circuit and override [method channel_count] and [method apply_outputs]. The
## [BrainAgent] of the body finds it among the body's descendants (several actuator
## nodes may read the same organ); [SpikeforgeWorld] calls [method apply_outputs] after
## every exchange with this organ's slice of the actuator array.
## [codeblock]
## class_name JumpActuator
## extends SpikeforgeActuator
##
## func _init() -> void:
##     organ = &"jump"
##
## func channel_count() -> int:
##     return 1
##
## func apply_outputs(outputs: PackedFloat32Array, _delta: float) -> void:
##     if outputs[0] > 20.0:  # Hz
##         get_parent().jump()
## [/codeblock]

## Name of the actuator organ in the circuit (genome) this actuator reads.
@export var organ: StringName = &""


## Number of values this actuator expects (the organ's channel count). Override.
func channel_count() -> int:
	push_error("%s %s: channel_count() is not overridden" % [get_class(), name])
	return 0


## Act on the organ's [param outputs] (one value per channel: a rate in Hz for a "rate"
## organ, ...) for a frame of [param delta] seconds. Override.
func apply_outputs(_outputs: PackedFloat32Array, _delta: float) -> void:
	push_error("%s %s: apply_outputs() is not overridden" % [get_class(), name])
