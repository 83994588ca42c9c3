extends CharacterBody2D
## A forager: its BrainAgent child gets a spiking brain; food calls [method eat]. The arena
## (main.gd) sets its Eye / Nose / Explore ValueSensors every frame and sends the reward.

## Food pellets eaten so far.
var eaten: int = 0
## Food eaten since the arena last computed this forager's reward.
var eaten_unrewarded: int = 0
## Angle (rad) of the nearest food relative to the heading last frame (shaping reward).
var last_angle: float = 0.0
## Running average of the reward (the baseline subtracted from it).
var baseline: float = 0.0
## How bright the body flashes: set by motor spikes, fades every frame.
var flash: float = 0.0
## Motor spikes delivered by the SpikeSignal child since the arena last read them.
var motor_spikes: int = 0

@onready var agent: BrainAgent = $BrainAgent
@onready var eye: ValueSensor = $Eye
@onready var nose: ValueSensor = $Nose


func _ready() -> void:
	($Explore as ValueSensor).set_values(PackedFloat32Array([1.0, 1.0]))


## Called by a food pellet this forager touched: count it (the arena rewards the brain).
func eat() -> void:
	eaten += 1
	eaten_unrewarded += 1
	queue_redraw()


func _physics_process(delta: float) -> void:
	if flash > 0.0:
		flash = maxf(0.0, flash - 4.0 * delta)
		queue_redraw()


func _on_motor_spiked(_steps: PackedInt64Array, neurons: PackedInt32Array) -> void:
	motor_spikes += neurons.size()
	flash = clampf(flash + 0.02 * neurons.size(), 0.0, 1.0)


func _draw() -> void:
	var shade := clampf(0.4 + 0.1 * eaten, 0.4, 1.0)
	var body := Color(0.9 * shade, 0.7 * shade, 0.2).lerp(Color.WHITE, flash * 0.6)
	draw_circle(Vector2.ZERO, 8.0, body)
	draw_line(Vector2.ZERO, Vector2(12, 0), Color(0.2, 0.2, 0.2), 2.0)
