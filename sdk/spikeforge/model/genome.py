"""Genome files: a circuit as versioned JSON, with exact round trip and validation
that names the field and the problem.

Format (version 1)::

    {"format": "spikeforge-genome", "version": 1, "circuit": {...Circuit.to_dict()...}}

A reader accepts the same major version (1); floats round-trip exactly because JSON
numbers are written with ``repr`` precision.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from spikeforge.files import atomic_write_bytes
from spikeforge.model.background import background_from_dict
from spikeforge.model.circuit import Circuit, Population
from spikeforge.model.errors import GenomeError
from spikeforge.model.neurons import model_from_dict
from spikeforge.model.organs import organ_from_dict
from spikeforge.model.synapses import projection_from_dict

GENOME_FORMAT = "spikeforge-genome"
GENOME_VERSION = 1


def circuit_to_genome(circuit: Circuit) -> dict[str, Any]:
    """The genome document (a JSON-ready dict) of a validated circuit."""
    circuit.validate()
    return {"format": GENOME_FORMAT, "version": GENOME_VERSION, "circuit": circuit.to_dict()}


def dumps(circuit: Circuit) -> str:
    """The genome JSON text of ``circuit`` (validated first)."""
    return json.dumps(circuit_to_genome(circuit), indent=2, allow_nan=False)


def save_genome(circuit: Circuit, path: str | os.PathLike[str]) -> None:
    """Write ``circuit`` as a genome file (mode 0644), atomically and link-proof.

    See :func:`spikeforge.files.atomic_write`: a failed write leaves neither a temporary
    file nor a clobbered genome, and no planted link is followed.
    """
    atomic_write_bytes(path, dumps(circuit).encode("utf-8"), mode=0o644)


def _reject_constant(value: str) -> float:
    raise GenomeError("json", f"non-finite number {value} is not allowed")


def loads(text: str | bytes) -> Circuit:
    """Parse and validate a genome document."""
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise GenomeError("json", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise GenomeError("json", f"not valid JSON: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise GenomeError("json", "not valid JSON: nested too deeply") from None
    return genome_to_circuit(doc)


def load_genome(path: str | os.PathLike[str]) -> Circuit:
    """Read and validate a genome file; :class:`GenomeError` names the bad field."""
    with open(path, "rb") as f:
        return loads(f.read())


def genome_to_circuit(doc: Any) -> Circuit:
    """A :class:`Circuit` from a parsed genome document (version checked, every field validated)."""
    if not isinstance(doc, dict):
        raise GenomeError("genome", "must be a JSON object")
    if doc.get("format") != GENOME_FORMAT:
        raise GenomeError("format", f"expected {GENOME_FORMAT!r}, got {doc.get('format')!r}")
    version = doc.get("version")
    if isinstance(version, bool) or version != GENOME_VERSION:  # JSON true == 1 in Python
        raise GenomeError("version", f"unsupported version {version!r}; this reader supports {GENOME_VERSION}")
    circuit = circuit_from_dict(doc.get("circuit"), "circuit")
    circuit.validate("circuit")
    return circuit


def circuit_from_dict(d: Any, path: str) -> Circuit:
    """A :class:`Circuit` from the circuit part of a genome; :class:`GenomeError` at ``path`` when malformed."""
    if not isinstance(d, dict):
        raise GenomeError(path, "must be an object")
    known = {"name", "populations", "projections", "organs", "subcircuits", "ports"}
    for key in d:
        if key not in known:
            raise GenomeError(f"{path}.{key}", "unknown field")
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise GenomeError(f"{path}.name", "must be a non-empty string")
    c = Circuit(name)
    for i, pd in enumerate(_list(d, "populations", path)):
        c.populations.append(_population_from_dict(pd, f"{path}.populations[{i}]"))
    for i, prd in enumerate(_list(d, "projections", path)):
        c.projections.append(projection_from_dict(prd, f"{path}.projections[{i}]"))
    for i, od in enumerate(_list(d, "organs", path)):
        c.organs.append(organ_from_dict(od, f"{path}.organs[{i}]"))
    subs = d.get("subcircuits", {})
    if not isinstance(subs, dict):
        raise GenomeError(f"{path}.subcircuits", "must be an object")
    for inst, sd in subs.items():
        c.subcircuits[inst] = circuit_from_dict(sd, f"{path}.subcircuits.{inst}")
    ports = d.get("ports", {})
    if not isinstance(ports, dict) or not all(isinstance(v, str) for v in ports.values()):
        raise GenomeError(f"{path}.ports", "must map port names to population names")
    c.ports = dict(ports)
    return c


def _list(d: dict[str, Any], key: str, path: str) -> list[Any]:
    value = d.get(key, [])
    if not isinstance(value, list):
        raise GenomeError(f"{path}.{key}", "must be a list")
    return value


def _population_from_dict(d: Any, path: str) -> Population:
    if not isinstance(d, dict):
        raise GenomeError(path, "must be an object")
    for key in d:
        if key not in {"name", "size", "model", "v_init", "background"}:
            raise GenomeError(f"{path}.{key}", "unknown field")
    vi = d.get("v_init")
    if isinstance(vi, list):
        if len(vi) != 2:
            raise GenomeError(f"{path}.v_init", "a range is [low, high]")
        vi = (vi[0], vi[1])
    if isinstance(vi, float) and not math.isfinite(vi):
        raise GenomeError(f"{path}.v_init", "must be finite")
    if "size" not in d:
        raise GenomeError(f"{path}.size", "is required")
    pop = Population(name=d.get("name", ""), size=d["size"],
                     model=model_from_dict(d.get("model", {"model": "lif"}), f"{path}.model"), v_init=vi,
                     background=(background_from_dict(d["background"], f"{path}.background")
                                 if "background" in d else None))
    pop.validate(path)
    return pop
