@tool
extends EditorPlugin
## Registers the spikeforge nodes so they appear in the "Add Node" dialog.

const TYPES: Array = [
	["SpikeforgeWorld", "Node", "spikeforge_world.gd", "Node"],
	["BrainAgent", "Node", "brain_agent.gd", "Node"],
	["RaycastSensor2D", "Node2D", "sensors/raycast_sensor_2d.gd", "RayCast2D"],
	["RaycastSensor3D", "Node3D", "sensors/raycast_sensor_3d.gd", "RayCast3D"],
	["ValueSensor", "Node", "sensors/value_sensor.gd", "Node"],
	["MotorActuator", "Node", "actuators/motor_actuator.gd", "Node"],
	["ActionActuator", "Node", "actuators/action_actuator.gd", "Node"],
	["SpikeSignal", "Node", "actuators/spike_signal.gd", "Signals"],
]


func _enter_tree() -> void:
	var base := get_editor_interface().get_base_control()
	var dir: String = (get_script() as Script).resource_path.get_base_dir()
	for t: Array in TYPES:
		var icon := base.get_theme_icon(t[3], &"EditorIcons")
		add_custom_type(t[0], t[1], load(dir.path_join(t[2])), icon)


func _exit_tree() -> void:
	for t: Array in TYPES:
		remove_custom_type(t[0])
