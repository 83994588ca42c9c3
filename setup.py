"""Build hooks: the native CPU backend and the WGSL shaders. Metadata lives in pyproject.toml.

* ``native/build_ext.py`` compiles ``native/src/*.c`` into ``spikeforge.engine._native_ext``
  with cffi (API mode).
* The WGSL shaders have one source, the top-level ``shaders/`` folder; ``build_py`` copies
  it into the package (``spikeforge/shaders``) so an installed wheel finds them. An editable
  install reads ``shaders/`` directly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithShaders(build_py):
    """``build_py`` that also copies ``shaders/**/*.wgsl`` into ``<build>/spikeforge/shaders``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the editable install finds <repo>/shaders itself
            return
        target = Path(self.build_lib) / "spikeforge" / "shaders"
        for src in sorted((HERE / "shaders").rglob("*.wgsl")):
            dst = target / src.relative_to(HERE / "shaders")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)


setup(cffi_modules=["native/build_ext.py:ffibuilder"], cmdclass={"build_py": BuildPyWithShaders})
