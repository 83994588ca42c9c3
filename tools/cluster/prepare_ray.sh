#!/usr/bin/env bash
# Prepare Ray for the device's `cluster` part (tools/gpu/device_run.sh cluster; issue 15), on the
# development machine, in the checkout the device tool ships:
#   bash tools/cluster/prepare_ray.sh
# The device's Python is 3.12 and it reaches no package index; Ray's cp312 wheel (79 MB) does not
# fit the tool's 64 MiB carry. This makes, in .ray/ (ignored through .git/info/exclude):
#   .ray/ray-<version>-cp312-stripped.tar.xz   ray/ + its dist-info without what a local Ray of
#       actors and compiled graphs never loads: ray/jars (Java workers), rllib, data, serve, tune,
#       train, llm and the dashboard's web build (the dashboard's Python stays: the raylet starts
#       its agent). Kept whole: _raylet.so, core/ (raylet, gcs_server, libjemalloc), _private/
#       (with the runtime-env agent's vendored aiohttp), dag/, experimental/ (channels,
#       compiled graphs), util/, autoscaler/, air/, thirdparty_files/ (psutil, colorama).
#   .ray/whl/   cp312 wheels of Ray's needs that the device image lacks: jsonschema,
#       jsonschema-specifications, referencing, rpds-py. Ray's other needs (click, filelock,
#       msgpack, packaging, protobuf, pyyaml, requests, aiohttp and its parts, attrs) are in the
#       device image (README of the device tool, "Python packages already there").
# About 28 MB in all; with .gl and .whl (tools/gpu/prepare.sh) about 33 MB: carry [".gl", ".whl", ".ray"].
# A second run reuses what is there (RAY_VERSION=... or removing .ray makes it anew).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
ver=${RAY_VERSION:-2.60.0}
py=${PYTHON:-python3}
excl=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$excl")"
grep -qxF /.ray/ "$excl" 2>/dev/null || echo /.ray/ >>"$excl"
mkdir -p .ray/whl
pip312() {  # cp312 manylinux wheels, no dependencies (each need is named)
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 "$@"
}
tarball=.ray/ray-$ver-cp312-stripped.tar.xz
if [ ! -s "$tarball" ]; then
  rm -f .ray/ray-*-cp312-stripped.tar.xz
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  pip312 -d "$tmp" "ray==$ver"
  mkdir "$tmp/x"
  "$py" -m zipfile -e "$tmp"/ray-"$ver"-cp312-*.whl "$tmp/x"
  # zipfile drops the executable bits the wheel records for Ray's binaries: set them again
  chmod 755 "$tmp/x/ray/core/src/ray/raylet/raylet" "$tmp/x/ray/core/src/ray/gcs/gcs_server"
  (cd "$tmp/x/ray" && rm -rf jars rllib data serve tune train llm dashboard/client/build)
  for f in ray/_raylet.so ray/core/src/ray/raylet/raylet ray/core/src/ray/gcs/gcs_server ray/dag/compiled_dag_node.py \
           ray/experimental/channel/shared_memory_channel.py ray/dashboard/agent.py \
           ray/_private/runtime_env/agent/main.py ray/_private/workers/default_worker.py; do
    [ -e "$tmp/x/$f" ] || { echo "prepare_ray: $f is missing from the ray $ver wheel" >&2; exit 1; }
  done
  tar -C "$tmp/x" -cf - ray "ray-$ver.dist-info" | xz -T0 -6 >"$tarball.part"
  mv "$tarball.part" "$tarball"
fi
if ! ls .ray/whl/rpds_py-*.whl >/dev/null 2>&1; then
  pip312 -d .ray/whl jsonschema jsonschema-specifications referencing rpds-py
fi
du -sh "$tarball" .ray/whl
