extends SceneTree
# Runs the Godot 3 addon's protocol.gd on the fixed inputs of cases.json and prints one
# "SPIKEFORGE_FRAME <name> <hex>" line per case, then "SPIKEFORGE_CODEC_DONE <count>".
# Environment: SPIKEFORGE_CASES = path of cases.json (its folder holds the "file" args).

const Proto = preload("res://addons/spikeforge/protocol.gd")


func _init() -> void:
	var path = OS.get_environment("SPIKEFORGE_CASES")
	var f = File.new()
	if f.open(path, File.READ) != OK:
		print("SPIKEFORGE_CODEC_FAIL cannot read %s" % path)
		quit(2)
		return
	var parsed = JSON.parse(f.get_as_text())
	f.close()
	if parsed.error != OK:
		print("SPIKEFORGE_CODEC_FAIL bad JSON in %s" % path)
		quit(2)
		return
	var count = 0
	var codec = Proto.new()
	for case in parsed.result["cases"]:
		var args = []
		for a in case["args"]:
			args.append(_arg(a, path.get_base_dir()))
		var frame = codec.callv(case["call"], args)
		print("SPIKEFORGE_FRAME %s %s" % [case["name"], frame.hex_encode()])
		count += 1
	print("SPIKEFORGE_CODEC_DONE %d" % count)
	quit(0)


func _arg(a: Dictionary, folder: String):
	if a.has("int"):
		return int(a["int"])
	if a.has("str"):
		return str(a["str"])
	if a.has("bool"):
		return bool(a["bool"])
	if a.has("frac"):
		return float(a["frac"][0]) / float(a["frac"][1])
	if a.has("f32s"):
		return PoolRealArray(a["f32s"])
	if a.has("u32s"):
		var ids = PoolIntArray()
		for x in a["u32s"]:
			ids.append(int(x))
		return ids
	if a.has("bytes"):
		var out = PoolByteArray()
		var h = str(a["bytes"])
		for i in range(0, h.length(), 2):
			out.append(("0x" + h.substr(i, 2)).hex_to_int())
		return out
	if a.has("file"):
		var f = File.new()
		f.open(folder.plus_file(a["file"]), File.READ)
		var text = f.get_as_text()
		f.close()
		return text
	print("SPIKEFORGE_CODEC_FAIL unknown argument %s" % a)
	return null
