#!/usr/bin/env bash
# Install the pinned npm packages of the centrifuge-js integration tests (centrifuge, ws)
# into tests/integration/js/node_modules. Idempotent: does nothing when node_modules already
# matches package.json and package-lock.json; otherwise runs `npm ci` (a clean install of
# exactly the lock file). Called by scripts/test and CI; safe to run by hand.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install.sh: node and npm are required (e.g. apt-get install nodejs npm)" >&2
  exit 1
fi

stamp=node_modules/.whirlwind-installed
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1) $(node --version)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
  && [ -f node_modules/centrifuge/package.json ] && [ -f node_modules/ws/package.json ]; then
  exit 0
fi

# --ignore-scripts: no package here needs an install script (protobufjs' only checks versions).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
