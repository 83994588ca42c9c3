@tool
extends EditorPlugin
## The spikeforge addon's editor plugin.
##
## The nodes need no registration here: every node script declares its [code]class_name[/code]
## and an [code]@icon[/code], which puts it in the Create Node dialog under its base class
## (Godot's docs advise against also calling [code]add_custom_type()[/code] for a script with a
## [code]class_name[/code]: the node would be listed twice). Your own sensors and actuators
## extend [SpikeforgeSensor] / [SpikeforgeSensor2D] / [SpikeforgeSensor3D] and
## [SpikeforgeActuator] and show up the same way.


func _enter_tree() -> void:
	pass


func _exit_tree() -> void:
	pass
