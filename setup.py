"""Build hooks: the native CPU backend and the WGSL shaders. Metadata lives in pyproject.toml.

* ``native/build_ext.py`` compiles ``native/src/*.c`` into ``spikeforge.engine._native_ext``
  with cffi (API mode).
* ``build_ext`` compiles the extension's C files in parallel (one compiler process per core):
  the vectorized loops are three files, one per instruction set (``native/src/loops.h``),
  which take most of a cold install's compile time.
* The WGSL shaders have one source, the top-level ``shaders/`` folder; ``build_py`` copies
  it into the package (``spikeforge/shaders``) so an installed wheel finds them. An editable
  install reads ``shaders/`` directly.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext
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


class ParallelBuildExt(build_ext):
    """``build_ext`` that compiles one extension's sources concurrently, largest first."""

    def build_extension(self, ext: Any) -> None:
        compiler = self.compiler
        serial = compiler.compile
        workers = min(len(ext.sources), os.cpu_count() or 1)
        if workers < 2:
            super().build_extension(ext)
            return

        def compile_parallel(sources: list[str], *args: Any, **kwargs: Any) -> list[str]:
            order = sorted(sources, key=lambda src: -os.path.getsize(src) if os.path.exists(src) else 0)
            with ThreadPoolExecutor(workers) as pool:
                objects = dict(zip(order, pool.map(lambda src: serial([src], *args, **kwargs), order)))
            return [obj for src in sources for obj in objects[src]]  # link order = source order

        compiler.compile = compile_parallel
        try:
            super().build_extension(ext)
        finally:
            compiler.compile = serial


setup(cffi_modules=["native/build_ext.py:ffibuilder"],
      cmdclass={"build_py": BuildPyWithShaders, "build_ext": ParallelBuildExt})
