"""A static check of Godot text scenes (.tscn, format 2 and 3) against their scripts.

A quick check before any engine runs (the e2e tests then load the scenes in real Godot);
it catches what a typo would break: resources whose files do not exist, ids used but never declared,
``load_steps`` that do not count the resources, properties set on a scripted node that
are neither exported by its script nor in the short list of engine properties the
samples use, and signal connections whose signal or method does not exist.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

# Engine properties the sample scenes set on nodes (checked by name only).
ENGINE_PROPERTIES = {
    "script", "collision_layer", "collision_mask", "motion_mode", "shape", "radius", "text",
    "offset_left", "offset_top", "offset_right", "offset_bottom", "position", "rotation",
}
ENGINE_SIGNALS = {"body_entered", "area_entered", "tree_entered", "ready"}


@dataclass
class Section:
    kind: str
    attrs: dict[str, str]
    props: dict[str, str] = field(default_factory=dict)


def parse_tscn(text: str) -> list[Section]:
    sections: list[Section] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        m = re.fullmatch(r"\[(\w+)(.*)\]", line)
        if m:
            attrs = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', m.group(2)))
            sections.append(Section(m.group(1), {k: v.strip('"') for k, v in attrs.items()}))
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1].props[key.strip()] = value.strip()
    return sections


def _class_index(root: Path) -> dict[str, Path]:
    """{class_name: script} over every .gd under ``root`` (symlinked addons followed)."""
    index: dict[str, Path] = {}
    for dirpath, _dirs, files in os.walk(root, followlinks=True):
        for name in files:
            if name.endswith(".gd"):
                path = Path(dirpath) / name
                m = re.search(r"^class_name (\w+)", path.read_text(encoding="utf-8"), re.M)
                if m:
                    index[m.group(1)] = path
    return index


def script_members(path: Path, classes: dict[str, Path] | None = None) -> tuple[set[str], set[str], set[str]]:
    """(exported variables, signals, functions) declared in a GDScript 1 or 2 file and, given
    ``classes`` ({class_name: script}), in the script classes it extends."""
    text = path.read_text(encoding="utf-8")
    exports = set(re.findall(r"^(?:@export\w*(?:\([^)]*\))?|export(?:\([^)]*\))?) var (\w+)", text, re.M))
    signals = set(re.findall(r"^signal (\w+)", text, re.M))
    funcs = set(re.findall(r"^(?:static )?func (\w+)", text, re.M))
    base = re.search(r"^extends (\w+)", text, re.M)
    if classes and base and base.group(1) in classes and classes[base.group(1)] != path:
        e, s, f = script_members(classes[base.group(1)], classes)
        exports |= e
        signals |= s
        funcs |= f
    return exports, signals, funcs


def _res(project: Path, path: str) -> Path:
    assert path.startswith("res://"), path
    return project / path[len("res://"):]


def _ref(value: str) -> str:
    """The id inside ExtResource( 1 ) / ExtResource("1_x") / SubResource(...)."""
    m = re.search(r'Resource\(\s*"?([^")\s]+)"?\s*\)', value)
    assert m, value
    return m.group(1)


def check_scene(project: Path, scene: Path) -> list[str]:
    """Problems found in one scene (empty: none)."""
    problems: list[str] = []
    classes = _class_index(project)
    sections = parse_tscn(scene.read_text(encoding="utf-8"))
    header = sections[0]
    ext = {s.attrs["id"]: s.attrs["path"] for s in sections if s.kind == "ext_resource"}
    sub = {s.attrs["id"] for s in sections if s.kind == "sub_resource"}
    expected_steps = len(ext) + len(sub) + 1
    if int(header.attrs.get("load_steps", expected_steps)) != expected_steps:
        problems.append(f"load_steps={header.attrs.get('load_steps')} but {expected_steps} resources + 1")
    for rid, path in ext.items():
        if not _res(project, path).exists():
            problems.append(f"ext_resource {rid}: {path} does not exist")
    scripts_of: dict[str, Path] = {}
    for s in sections:
        for value in s.props.values():
            if "ExtResource" in value and _ref(value) not in ext:
                problems.append(f"{s.kind} {s.attrs.get('name', '')}: unknown ExtResource {_ref(value)}")
            if "SubResource" in value and _ref(value) not in sub:
                problems.append(f"{s.kind} {s.attrs.get('name', '')}: unknown SubResource {_ref(value)}")
        if s.kind != "node":
            continue
        parent = s.attrs.get("parent")
        node_path = "." if parent is None else (s.attrs["name"] if parent == "." else f"{parent}/{s.attrs['name']}")
        script_ref = s.props.get("script")
        if script_ref is None:
            continue
        script = _res(project, ext.get(_ref(script_ref), "res://missing"))
        if not script.exists():
            continue
        scripts_of[node_path] = script
        exports, _signals, _funcs = script_members(script, classes)
        for prop in s.props:
            if prop not in exports and prop not in ENGINE_PROPERTIES:
                problems.append(f"node {node_path}: {script.name} exports no property {prop!r}")
    for s in sections:
        if s.kind != "connection":
            continue
        src, dst = s.attrs["from"], s.attrs["to"]
        signal, method = s.attrs["signal"], s.attrs["method"]
        if src in scripts_of:
            if signal not in script_members(scripts_of[src], classes)[1] and signal not in ENGINE_SIGNALS:
                problems.append(f"connection: {src} has no signal {signal!r}")
        else:
            problems.append(f"connection: no scripted node {src!r}")
        if dst in scripts_of:
            if method not in script_members(scripts_of[dst], classes)[2]:
                problems.append(f"connection: {dst} has no method {method!r}")
        else:
            problems.append(f"connection: no scripted node {dst!r}")
    return problems
