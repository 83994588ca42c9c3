@tool
@icon("res://addons/spikeforge/icons/sensor_3d.svg")
class_name RaycastSensor3D
extends SpikeforgeSensor3D
## A grid of rays (width x height) that turns what the agent "sees" into sensor values.
##
## One channel per ray, row-major (height rows of width rays, each row from left to right):
## [code]1 - distance / ray_length[/code] on a hit against [member collision_mask],
## 0 on a miss. Values lie in [0, 1]; give the circuit's sensor organ low = 0,
## high = 1 and [code]channels = rays_wide * rays_high[/code]. Rays point along -Z
## (Godot's forward). In the editor the rays are drawn as lines (an ImmediateMesh
## child that is not saved with the scene).

## Rays across (horizontal).
@export_range(1, 64) var rays_wide: int = 6:
	set(value):
		rays_wide = maxi(1, value)
		_update_preview()
## Rays up and down (vertical).
@export_range(1, 64) var rays_high: int = 1:
	set(value):
		rays_high = maxi(1, value)
		_update_preview()
## Length of each ray, in metres.
@export_range(0.1, 1000.0, 0.1, "suffix:m") var ray_length: float = 10.0:
	set(value):
		ray_length = maxf(0.1, value)
		_update_preview()
## Horizontal opening angle, in degrees.
@export_range(0.0, 360.0, 1.0, "suffix:°") var cone_width_degrees: float = 90.0:
	set(value):
		cone_width_degrees = clampf(value, 0.0, 360.0)
		_update_preview()
## Vertical opening angle, in degrees.
@export_range(0.0, 180.0, 1.0, "suffix:°") var cone_height_degrees: float = 0.0:
	set(value):
		cone_height_degrees = clampf(value, 0.0, 180.0)
		_update_preview()
## Physics layers the rays collide with.
@export_flags_3d_physics var collision_mask: int = 1
## Whether rays hit Area3D nodes.
@export var collide_with_areas: bool = true
## Whether rays hit physics bodies.
@export var collide_with_bodies: bool = true
## Show the ray preview in the editor.
@export var editor_preview: bool = true:
	set(value):
		editor_preview = value
		_update_preview()

var _preview: MeshInstance3D = null


func _init() -> void:
	organ = &"eyes"


## The organ's channel count.
func channel_count() -> int:
	return rays_wide * rays_high


## Ray end point in local coordinates for column [param i], row [param j].
func ray_target(i: int, j: int) -> Vector3:
	var yaw := deg_to_rad(_spread(i, rays_wide, cone_width_degrees))
	var pitch := deg_to_rad(_spread(j, rays_high, cone_height_degrees))
	return Vector3(
		sin(yaw) * cos(pitch) * ray_length,
		sin(pitch) * ray_length,
		-cos(yaw) * cos(pitch) * ray_length
	)


## Cast every ray now and return one value per ray in [0, 1] (row-major).
func get_values() -> PackedFloat32Array:
	var out := PackedFloat32Array()
	out.resize(rays_wide * rays_high)
	var space := get_world_3d().direct_space_state
	var query := PhysicsRayQueryParameters3D.new()
	query.collision_mask = collision_mask
	query.collide_with_areas = collide_with_areas
	query.collide_with_bodies = collide_with_bodies
	query.exclude = _excluded_rids()
	var origin := global_position
	for j in rays_high:
		for i in rays_wide:
			query.from = origin
			query.to = to_global(ray_target(i, j))
			var hit := space.intersect_ray(query)
			var value := 0.0
			if not hit.is_empty():
				var d: float = origin.distance_to(hit["position"])
				value = clampf(1.0 - d / ray_length, 0.0, 1.0)
			out[j * rays_wide + i] = value
	return out


func _ready() -> void:
	_update_preview()


func _spread(i: int, n: int, degrees: float) -> float:
	if n == 1:
		return 0.0
	return -degrees / 2.0 + degrees * float(i) / float(n - 1)


func _excluded_rids() -> Array[RID]:
	var rids: Array[RID] = []
	var node := get_parent()
	while node != null:
		if node is CollisionObject3D:
			rids.append((node as CollisionObject3D).get_rid())
			break
		node = node.get_parent()
	return rids


func _update_preview() -> void:
	if not Engine.is_editor_hint() or not is_inside_tree():
		return
	if _preview == null:
		_preview = MeshInstance3D.new()
		_preview.name = "RayPreview"
		add_child(_preview)  # no owner: the preview is never saved into the scene
	_preview.visible = editor_preview
	var mesh := ImmediateMesh.new()
	var material := StandardMaterial3D.new()
	material.shading_mode = BaseMaterial3D.SHADING_MODE_UNSHADED
	material.albedo_color = Color(0.3, 0.8, 1.0)
	mesh.surface_begin(Mesh.PRIMITIVE_LINES, material)
	for j in rays_high:
		for i in rays_wide:
			mesh.surface_add_vertex(Vector3.ZERO)
			mesh.surface_add_vertex(ray_target(i, j))
	mesh.surface_end()
	_preview.mesh = mesh
