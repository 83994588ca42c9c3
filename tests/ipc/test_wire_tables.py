"""The adapters' wire tables (C#, GDScript 4 and 3) are generated from ipc/protocol.py and up to date."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from spikeforge.ipc import gen_wire
from spikeforge.ipc import protocol as P

REPO = Path(__file__).resolve().parents[2]


def test_regeneration_changes_nothing() -> None:
    assert gen_wire.REPO == REPO
    assert gen_wire.stale() == [], "run `python -m spikeforge.ipc.gen_wire` and commit the result"


def test_a_hand_edit_is_caught(tmp_path: Path) -> None:
    for rel in (gen_wire.WIRE_CS, gen_wire.GODOT4_GD, gen_wire.GODOT3_GD):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tmp_path / rel)
    assert gen_wire.stale(tmp_path) == []
    gd = tmp_path / gen_wire.GODOT3_GD
    gd.write_text(gd.read_text().replace("const MSG_SAVE = 0x0050", "const MSG_SAVE = 0x0051"))
    assert gen_wire.stale(tmp_path) == [gd]


def test_every_copy_holds_every_message_and_error_code() -> None:
    cs = (REPO / gen_wire.WIRE_CS).read_text()
    got_cs = {m[0]: int(m[1], 16) for m in re.findall(r"public const ushort (\w+) = 0x([0-9a-f]{4});", cs)}
    for gd_rel in (gen_wire.GODOT4_GD, gen_wire.GODOT3_GD):
        gd = (REPO / gd_rel).read_text()
        pairs = re.findall(r"^const ((?:MSG|ERR)_\w+)(?:: int)? = (0x[0-9a-f]+|\d+)$", gd, re.M)
        got = {name: int(value, 0) for name, value in pairs}
        for m in P.Msg:
            assert got[f"MSG_{m.name}"] == m.value, (gd_rel, m)
        for e in P.Err:
            assert got[f"ERR_{e.name}"] == e.value, (gd_rel, e)
    for m in P.Msg:
        assert got_cs[gen_wire.pascal(m.name)] == m.value, m
    for e in P.Err:
        assert f'"{e.name}",' in cs and f"Err{gen_wire.pascal(e.name)} = {e.value};" in cs
