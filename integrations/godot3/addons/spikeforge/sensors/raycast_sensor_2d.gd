tool
extends Node2D
class_name RaycastSensor2D
# A fan of rays; one channel per ray: 1 - distance / ray_length on a hit, 0 on a miss
# (values in [0, 1]). Drawn in the editor (and at run time when debug_draw is on).

# Name of the sensor organ in the circuit this sensor feeds.
export(String) var organ = "eyes"
# Number of rays (= channels of the organ).
export(int, 1, 256) var n_rays = 8 setget _set_n_rays
# Length of each ray (pixels).
export(float, 1.0, 10000.0) var ray_length = 200.0 setget _set_ray_length
# Opening angle of the fan (degrees), centred on +X.
export(float, 0.0, 360.0) var cone_degrees = 120.0 setget _set_cone_degrees
# Physics layers the rays collide with.
export(int, LAYERS_2D_PHYSICS) var collision_mask = 1
# Whether rays hit Area2D nodes.
export(bool) var collide_with_areas = true
# Whether rays hit physics bodies.
export(bool) var collide_with_bodies = true
# Draw the rays.
export(bool) var debug_draw = true setget _set_debug_draw

var _last = PoolRealArray()


func channel_count() -> int:
	return n_rays


func ray_target(i: int) -> Vector2:
	var angle = deg2rad(_ray_angle_degrees(i))
	return Vector2(cos(angle), sin(angle)) * ray_length


func get_values() -> PoolRealArray:
	var out = PoolRealArray()
	out.resize(n_rays)
	var space = get_world_2d().direct_space_state
	var exclude = _excluded()
	var origin = global_position
	for i in n_rays:
		var hit = space.intersect_ray(origin, to_global(ray_target(i)), exclude, collision_mask, collide_with_bodies, collide_with_areas)
		if hit.empty():
			out[i] = 0.0
		else:
			out[i] = clamp(1.0 - origin.distance_to(hit["position"]) / ray_length, 0.0, 1.0)
	_last = out
	if debug_draw and not Engine.editor_hint and OS.get_name() != "Server":
		update()
	return out


func _ray_angle_degrees(i: int) -> float:
	if n_rays == 1:
		return 0.0
	if is_equal_approx(cone_degrees, 360.0):
		return -180.0 + 360.0 * float(i) / float(n_rays)
	return -cone_degrees / 2.0 + cone_degrees * float(i) / float(n_rays - 1)


func _excluded() -> Array:
	var node = get_parent()
	while node != null:
		if node is CollisionObject2D:
			return [node]
		node = node.get_parent()
	return []


func _draw() -> void:
	if not debug_draw:
		return
	for i in n_rays:
		var hit = _last[i] if i < _last.size() else 0.0
		var color = Color(1.0, 0.3, 0.2, 0.8) if hit > 0.0 else Color(0.3, 0.8, 1.0, 0.5)
		draw_line(Vector2.ZERO, ray_target(i) * (1.0 - hit if hit > 0.0 else 1.0), color, 1.0)


func _set_n_rays(value: int) -> void:
	n_rays = max(1, value)
	update()


func _set_ray_length(value: float) -> void:
	ray_length = max(1.0, value)
	update()


func _set_cone_degrees(value: float) -> void:
	cone_degrees = clamp(value, 0.0, 360.0)
	update()


func _set_debug_draw(value: bool) -> void:
	debug_draw = value
	update()
