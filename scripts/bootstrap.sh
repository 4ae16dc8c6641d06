# Sourced by scripts/serve and scripts/test: make ./.venv with Whirlwind installed.
# Re-installs only when pyproject.toml, setup.py or a compiled module changed (a stamp
# file keeps their hash). WHIRLWIND_PURE=1 installs without compiling (see setup.py).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WHIRLWIND_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Whirlwind needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    echo "python3 -m venv failed; on Debian/Ubuntu: sudo apt-get install python3-venv" >&2
    exit 1
  fi
fi
stamp="$VENV/.whirlwind-installed"
# The modules setup.py compiles with mypyc are in the hash too: an edit to one of them
# rebuilds its extension, which would otherwise shadow the edited source.
compiled="$(grep -o '"src/whirlwind/[a-z_/]*\.py"' "$ROOT/setup.py" | tr -d '"' | sed "s|^|$ROOT/|")"
# shellcheck disable=SC2086
hash="$(cat "$ROOT/pyproject.toml" "$ROOT/setup.py" $compiled | sha256sum | cut -d' ' -f1)${WHIRLWIND_PURE:+-pure}"
# The stamp holds the pyproject hash and the extras installed with it; an install that
# already has the requested extras (scripts/test installs more than scripts/serve) is kept.
installed_hash="" installed_extras=""
if [ -f "$stamp" ]; then read -r installed_hash installed_extras < "$stamp" || true; fi
missing=""
for extra in ${EXTRAS//,/ }; do
  case ",$installed_extras," in *",$extra,"*) ;; *) missing=1 ;; esac
done
if [ "$installed_hash" != "$hash" ] || [ -n "$missing" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  find "$ROOT/src" -name '*.so' -delete  # extensions of an earlier build shadow the sources
  "$VENV/bin/python" -m pip install -q -e "$ROOT${EXTRAS:+[$EXTRAS]}"
  echo "$hash $EXTRAS" > "$stamp"
fi
