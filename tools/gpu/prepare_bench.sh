#!/usr/bin/env bash
# Prepare the reference simulators for the device's `cpu` part (tools/gpu/device_run.sh cpu):
#   .bench/           the cp312 brian2 2.10.1 wheel (2.9 fails on the device's numpy 2.x: no ndarray.ptp; its needs: numpy, cython, sympy, jinja2, pyparsing,
#                     setuptools, packaging are in the device image; its cpp_standalone uses the
#                     device's g++); NEST's wheel (33.5 MB) does not fit the 64 MiB carry beside .gl/.whl
#   .bench/anchors/   a copy of ../shared/anchors (the Brian2/NEST CUBA scripts; not part of the project)
# Then call the device tool with carry [".gl", ".whl", ".bench"].
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
excl=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$excl")"
grep -qxF /.bench/ "$excl" 2>/dev/null || echo /.bench/ >>"$excl"
mkdir -p .bench/anchors
if ! ls .bench/brian2-*.whl >/dev/null 2>&1; then
  "${PYTHON:-python3}" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .bench "brian2==${BRIAN2_VERSION:-2.10.1}"
fi
cp "${ANCHORS:-$root/../shared/anchors}"/*.py .bench/anchors/
du -sh .bench
