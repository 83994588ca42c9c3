"""The C and WGSL copies of the shared tables are generated from engine/tables.py and up to date."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from spikeforge.engine import gen_tables
from spikeforge.engine.layout import NEURON_STATE
from spikeforge.model.neurons import KERNELS
from spikeforge.model.neurons import base as B

REPO = Path(__file__).resolve().parents[2]


def test_regeneration_changes_nothing() -> None:
    assert gen_tables.REPO == REPO
    assert gen_tables.stale() == [], "run `python -m spikeforge.engine.gen_tables` and commit the result"


def test_a_hand_edit_is_caught(tmp_path: Path) -> None:
    for part in ("native/src", "shaders"):
        shutil.copytree(REPO / part, tmp_path / part)
    assert gen_tables.stale(tmp_path) == []
    abi = tmp_path / "native/src/spikeforge_abi.h"
    abi.write_text(abi.read_text().replace("#define SF_F_PVV 3", "#define SF_F_PVV 4"))
    wgsl = tmp_path / "shaders/models/qif.wgsl"
    wgsl.write_text(wgsl.read_text().replace("(ie + ii)", "(ii + ie)"))
    assert sorted(p.name for p in gen_tables.stale(tmp_path)) == ["models.wgsl", "spikeforge_abi.h"]


def test_wgsl_constants_are_the_tables() -> None:
    text = (REPO / "shaders/tables.wgsl").read_text()
    got = {m[0]: int(m[1]) for m in re.findall(r"const (\w+) = (\d+)u?;", text)}
    for name, value, _ in gen_tables.int_tables():
        if name != "GAUSS_LUT_SIZE":
            assert got[name] == value, name


@pytest.mark.native
def test_compiled_extension_has_the_tables() -> None:
    """The built extension was compiled from the current header (a stale build fails here)."""
    import spikeforge.engine.native_backend as native

    c = native.abi_constants()
    for name, value, _ in gen_tables.int_tables():
        assert c["SF_" + name] == value, name


def test_model_columns_fit_and_every_kernel_has_its_files() -> None:
    for k in KERNELS:
        assert len(k.columns) <= B.MODEL_COLUMNS
        assert (REPO / "native/src/models" / f"{k.name}.h").is_file()
        assert (REPO / "shaders/models" / f"{k.name}.wgsl").is_file()
    assert set(NEURON_STATE) >= {"v", "w", "ie", "ii", "hold"}
