"""Every public name of the SDK has a docstring (the API reference is built from them).

A name is public when neither it nor a package above it starts with ``_``. Methods that
override a documented base method inherit its docstring (``inspect.getdoc``), as Sphinx does.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import spikeforge


def _modules() -> list[ModuleType]:
    out = [spikeforge]
    for info in pkgutil.walk_packages(spikeforge.__path__, "spikeforge."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        out.append(importlib.import_module(info.name))
    return out


def _members(cls: type) -> list[tuple[str, object]]:
    out = []
    for name, raw in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(raw, (staticmethod, classmethod)):
            raw = raw.__func__
        if isinstance(raw, property) or inspect.isfunction(raw):
            out.append((name, getattr(cls, name) if not isinstance(raw, property) else raw))
    return out


def undocumented_names() -> list[str]:
    """Dotted names of public modules, classes, functions, methods and properties without a docstring."""
    missing: list[str] = []
    for mod in _modules():
        if not (mod.__doc__ or "").strip():
            missing.append(mod.__name__)
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            doc = inspect.getdoc(obj) or ""
            # a dataclass without a docstring gets its signature as one: that documents nothing
            if not doc.strip() or (inspect.isclass(obj) and doc.startswith(f"{obj.__name__}(")):
                missing.append(f"{mod.__name__}.{name}")
            if inspect.isclass(obj):
                for mname, member in _members(obj):
                    doc = member.__doc__ if isinstance(member, property) else inspect.getdoc(member)
                    if not (doc or "").strip():
                        missing.append(f"{mod.__name__}.{name}.{mname}")
    return missing


def test_every_public_name_has_a_docstring() -> None:
    missing = undocumented_names()
    assert not missing, f"{len(missing)} public names lack a docstring:\n  " + "\n  ".join(missing)


def test_the_check_sees_a_missing_docstring() -> None:
    class Probe:
        def visible(self) -> None:
            pass

        def _hidden(self) -> None:
            pass

    assert [n for n, _ in _members(Probe)] == ["visible"]
    assert inspect.getdoc(Probe.visible) is None
