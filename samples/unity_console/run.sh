#!/usr/bin/env bash
# Build the console sample with Mono's mcs and run it: samples/unity_console/run.sh [--mode tcp|shm|inprocess] [--frames N]
# Needs `make venv` (pythonnet, spikeforge) and mono-devel (`make apt`).
set -euo pipefail
cd "$(dirname "$0")/../.."
PKG=integrations/unity/com.spikeforge.unity
PYRT=$(.venv/bin/python -c "import pythonnet, pathlib; print(pathlib.Path(pythonnet.__file__).parent / 'runtime' / 'Python.Runtime.dll')")
OUT=${TMPDIR:-/tmp}/spikeforge-unity-console
mkdir -p "$OUT"
cp "$PYRT" "$OUT/"
mcs -langversion:7.2 -unsafe -out:"$OUT/ForagerConsole.exe" -r:"$PYRT" -r:/usr/lib/mono/4.5/Facades/netstandard.dll \
    -r:System.Numerics $PKG/Runtime/Client/*.cs $PKG/Runtime/Client/InProcess/*.cs samples/unity_console/ForagerConsole.cs
exec mono "$OUT/ForagerConsole.exe" --python "$PWD/.venv/bin/python" "$@"
