"""Build hook for the native CPU backend: compiles ``native/src/*.c`` into
``spikeforge.engine._native_ext`` with cffi (API mode). Metadata lives in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["native/build_ext.py:ffibuilder"])
