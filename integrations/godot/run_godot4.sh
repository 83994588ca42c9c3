#!/bin/sh
# Run the Godot 4 the tests use: $GODOT4, `godot` 4.2+ on PATH, or the private root that
# `make godot4` caches under .venv/godot4-root (Debian sid's godot, started with its own loader).
#   integrations/godot/run_godot4.sh --headless --path samples/godot_foragers
here="$(cd "$(dirname "$0")" && pwd)"
godot="$(python3 "$here/install_godot4.py" --find)" || {
  echo "no Godot 4.2+ found: set GODOT4, put godot 4.2+ on PATH, or run 'make godot4'" >&2; exit 1; }
exec "$godot" "$@"
