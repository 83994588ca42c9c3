extends KinematicBody2D
# A forager: its BrainAgent child gets a brain; food calls eat() when touched. The arena
# (main.gd) sets its Eye / Nose / Explore ValueSensors every frame and sends the reward.

var eaten = 0
# Food eaten since the arena last computed this forager's reward.
var eaten_unrewarded = 0
# Angle (rad) of the nearest food relative to the heading last frame, for the shaping reward.
var last_angle = 0.0
# Running average of the reward (the baseline subtracted from it).
var baseline = 0.0
# Motor spikes delivered by the SpikeSignal child since the arena last read them.
var motor_spikes = 0


func eat() -> void:
	eaten += 1
	eaten_unrewarded += 1


func _on_motor_spiked(_steps: Array, neurons: PoolIntArray) -> void:
	motor_spikes += neurons.size()


func _draw() -> void:
	draw_circle(Vector2.ZERO, 8.0, Color(0.9, 0.7, 0.2))
	draw_line(Vector2.ZERO, Vector2(12, 0), Color(0.2, 0.2, 0.2), 2.0)
