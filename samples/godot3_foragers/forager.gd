extends KinematicBody2D
# A forager: its BrainAgent child gets a brain; food calls eat() when touched.

var eaten = 0
# Motor spikes delivered by the SpikeSignal child since the arena last read them.
var motor_spikes = 0


func eat() -> void:
	eaten += 1
	$BrainAgent.add_reward(1.0)


func _on_motor_spiked(_steps: Array, neurons: PoolIntArray) -> void:
	motor_spikes += neurons.size()


func _draw() -> void:
	draw_circle(Vector2.ZERO, 8.0, Color(0.9, 0.7, 0.2))
	draw_line(Vector2.ZERO, Vector2(12, 0), Color(0.2, 0.2, 0.2), 2.0)
