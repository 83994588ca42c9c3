tool
extends Spatial
class_name RaycastSensor3D
# A grid of rays (rays_wide x rays_high, row-major, left to right) along -Z; one channel per ray:
# 1 - distance / ray_length on a hit, 0 on a miss. Previewed in the editor with an
# ImmediateGeometry child that is not saved with the scene.

# Name of the sensor organ in the circuit this sensor feeds.
export(String) var organ = "eyes"
# Rays across.
export(int, 1, 64) var rays_wide = 6 setget _set_rays_wide
# Rays up and down.
export(int, 1, 64) var rays_high = 1 setget _set_rays_high
# Length of each ray (metres).
export(float, 0.1, 1000.0) var ray_length = 10.0 setget _set_ray_length
# Horizontal opening angle (degrees).
export(float, 0.0, 360.0) var cone_width_degrees = 90.0 setget _set_cone_width
# Vertical opening angle (degrees).
export(float, 0.0, 180.0) var cone_height_degrees = 0.0 setget _set_cone_height
# Physics layers the rays collide with.
export(int, LAYERS_3D_PHYSICS) var collision_mask = 1
# Whether rays hit Area nodes.
export(bool) var collide_with_areas = true
# Whether rays hit physics bodies.
export(bool) var collide_with_bodies = true
# Show the ray preview in the editor.
export(bool) var editor_preview = true setget _set_editor_preview

var _preview: ImmediateGeometry = null


func channel_count() -> int:
	return rays_wide * rays_high


func ray_target(i: int, j: int) -> Vector3:
	var yaw = deg2rad(_spread(i, rays_wide, cone_width_degrees))
	var pitch = deg2rad(_spread(j, rays_high, cone_height_degrees))
	return Vector3(sin(yaw) * cos(pitch), sin(pitch), -cos(yaw) * cos(pitch)) * ray_length


func get_values() -> PoolRealArray:
	var out = PoolRealArray()
	out.resize(rays_wide * rays_high)
	var space = get_world().direct_space_state
	var exclude = _excluded()
	var origin = global_transform.origin
	for j in rays_high:
		for i in rays_wide:
			var hit = space.intersect_ray(origin, to_global(ray_target(i, j)), exclude, collision_mask, collide_with_bodies, collide_with_areas)
			var value = 0.0
			if not hit.empty():
				value = clamp(1.0 - origin.distance_to(hit["position"]) / ray_length, 0.0, 1.0)
			out[j * rays_wide + i] = value
	return out


func _ready() -> void:
	_update_preview()


func _spread(i: int, n: int, degrees: float) -> float:
	if n == 1:
		return 0.0
	return -degrees / 2.0 + degrees * float(i) / float(n - 1)


func _excluded() -> Array:
	var node = get_parent()
	while node != null:
		if node is CollisionObject:
			return [node]
		node = node.get_parent()
	return []


func _update_preview() -> void:
	if not Engine.editor_hint or not is_inside_tree():
		return
	if _preview == null:
		_preview = ImmediateGeometry.new()
		add_child(_preview)
	_preview.visible = editor_preview
	_preview.clear()
	_preview.begin(Mesh.PRIMITIVE_LINES)
	for j in rays_high:
		for i in rays_wide:
			_preview.add_vertex(Vector3.ZERO)
			_preview.add_vertex(ray_target(i, j))
	_preview.end()


func _set_rays_wide(value: int) -> void:
	rays_wide = max(1, value)
	_update_preview()


func _set_rays_high(value: int) -> void:
	rays_high = max(1, value)
	_update_preview()


func _set_ray_length(value: float) -> void:
	ray_length = max(0.1, value)
	_update_preview()


func _set_cone_width(value: float) -> void:
	cone_width_degrees = clamp(value, 0.0, 360.0)
	_update_preview()


func _set_cone_height(value: float) -> void:
	cone_height_degrees = clamp(value, 0.0, 180.0)
	_update_preview()


func _set_editor_preview(value: bool) -> void:
	editor_preview = value
	_update_preview()
