tool
extends EditorPlugin
# Registers the spikeforge nodes in the "Create Node" dialog.

const TYPES = [
	["SpikeforgeWorld", "Node", "spikeforge_world.gd", "Node"],
	["BrainAgent", "Node", "brain_agent.gd", "Node"],
	["RaycastSensor2D", "Node2D", "sensors/raycast_sensor_2d.gd", "RayCast2D"],
	["RaycastSensor3D", "Spatial", "sensors/raycast_sensor_3d.gd", "RayCast"],
	["ValueSensor", "Node", "sensors/value_sensor.gd", "Node"],
	["MotorActuator", "Node", "actuators/motor_actuator.gd", "Node"],
	["ActionActuator", "Node", "actuators/action_actuator.gd", "Node"],
	["SpikeSignal", "Node", "actuators/spike_signal.gd", "Signals"],
]


func _enter_tree() -> void:
	var base = get_editor_interface().get_base_control()
	var dir = get_script().resource_path.get_base_dir()
	for t in TYPES:
		add_custom_type(t[0], t[1], load(dir.plus_file(t[2])), base.get_icon(t[3], "EditorIcons"))


func _exit_tree() -> void:
	for t in TYPES:
		remove_custom_type(t[0])
