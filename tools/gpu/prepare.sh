#!/usr/bin/env bash
# Prepare a device run (on the development machine, in the checkout the device tool ships).
#   tools/gpu/prepare.sh [SRC_TREE]
# Downloads, once, into folders git ignores (.git/info/exclude):
#   .gl/   Debian's Vulkan/EGL loader debs (the device has the NVIDIA driver, no loader)
#   .whl/  cp312 wheels of cffi, pycparser, wgpu 0.32, rendercanvas (the device's Python is 3.12)
# and, when SRC_TREE is given (a worktree not yet merged), copies its tracked + untracked
# files into .devwork/repo so the device runs that tree (name .devwork in `carry`).
# Then call the device tool with carry [".gl", ".whl"] (+ ".devwork") and the command
#   bash tools/gpu/device_run.sh diag tests bench      (or: cd .devwork/repo && bash ...)
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
excl=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$excl")"
for p in /.gl/ /.whl/ /.devwork/; do grep -qxF "$p" "$excl" 2>/dev/null || echo "$p" >>"$excl"; done
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
if ! ls .whl/wgpu-*.whl >/dev/null 2>&1; then
  py=${PYTHON:-python3}
  "$py" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    cffi pycparser "wgpu==0.32.*" rendercanvas
fi
if [ $# -ge 1 ]; then
  src=$(cd "$1" && pwd)
  rm -rf .devwork/repo && mkdir -p .devwork/repo
  (cd "$src" && git ls-files -co --exclude-standard -z) | (cd "$src" && xargs -0 cp -a --parents -t "$root/.devwork/repo")
  echo "copied $(du -sh .devwork/repo | cut -f1) of $src into .devwork/repo"
fi
