"""cffi (API mode) build script of ``spikeforge.engine._native_ext``.

Used by ``setup.py`` (``cffi_modules``) at ``pip install`` time. The ``cdef`` is the
block between ``CDEF BEGIN`` and ``CDEF END`` of ``native/src/spikeforge_abi.h``, and
the sources are the same C files ``make -C native`` builds into the plain shared
library, so the Python extension and the C API share one implementation.
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
# -O3 without fast-math; no FP contraction (a*b+c must not become an fma): bit-exact with numpy.
# -fno-trapping-math only lets the compiler evaluate both sides of a select (we never read FP
# exception flags), which is what allows the neuron loop to vectorize; values are unchanged.
# -g1 (after Python's -g): line tables for backtraces and profilers without the full debug
# information, which is ~25 % of the compile time of the loops; the code is the same.
CFLAGS = ["-O3", "-std=c99", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math", "-pthread", "-fvisibility=hidden",
          "-g1"]


def _cdef() -> str:
    """Kernel ABI (``spikeforge_abi.h``) plus the public C API (``include/spikeforge.h``)."""
    abi = (SRC / "spikeforge_abi.h").read_text()
    api = (HERE / "include" / "spikeforge.h").read_text()
    abi = abi.split("/* CDEF BEGIN */", 1)[1].split("/* CDEF END */", 1)[0]
    api = api.split("/* CAPI BEGIN */", 1)[1].split("/* CAPI END */", 1)[0]
    # cffi takes integer #defines only: the string list SF_KEPT_NAMES is for C
    abi = "\n".join(line for line in abi.splitlines() if not line.startswith("#define SF_KEPT_NAMES"))
    return abi + api.replace("SF_API ", "")


def _rel(p: Path) -> str:
    try:
        return os.path.relpath(p, Path.cwd())
    except ValueError:  # other drive (Windows)
        return str(p)


ffibuilder = FFI()
ffibuilder.cdef(_cdef())
ffibuilder.set_source(
    "spikeforge.engine._native_ext",
    '#include "spikeforge_abi.h"\n#include "spikeforge.h"\n',
    sources=[_rel(p) for p in sorted(SRC.glob("*.c"))],
    include_dirs=[_rel(SRC), _rel(HERE / "include")],
    extra_compile_args=CFLAGS,
    extra_link_args=["-pthread"],
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
