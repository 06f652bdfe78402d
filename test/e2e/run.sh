#!/usr/bin/env bash
# Extension tests in a real VS Code (code-server's VS Code server + Debian chromium), then the Playwright UI test.
# Nothing is downloaded outside npm and apt (see setup-tools.sh). Usage: bash test/e2e/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=${GRPO_TOOLS:-$ROOT/.tools}
PORT=${GRPO_E2E_PORT:-$((20000 + RANDOM % 20000))}
log() { echo "[e2e $(date +%T)] $*"; }

bash "$ROOT/test/e2e/setup-tools.sh"
NODE24=$TOOLS/node24/node_modules/node/bin/node
SERVER_MAIN=$TOOLS/cs/node_modules/code-server/lib/vscode/out/server-main.js
[ -f "$ROOT/dist/extension.js" ] || (cd "$ROOT" && npm run build)

# The test bundles: mocha suite run inside the extension host, UI flow driven from outside.
node "$ROOT/test/e2e/build-tests.mjs"

WORK=$(mktemp -d /tmp/grpo-e2e.XXXXXX)
mkdir -p "$WORK/workspace" "$ROOT/test-results"
# The VS Code server refuses --enable-smoke-test-driver through code-server's CLI, so start its server-main directly;
# the smoke-test driver is what makes the workbench honour extensionDevelopmentPath/extensionTestsPath in the URL.
setsid "$NODE24" "$SERVER_MAIN" --host 127.0.0.1 --port "$PORT" --without-connection-token --accept-server-license-terms \
  --enable-smoke-test-driver --disable-telemetry --disable-workspace-trust \
  --user-data-dir "$WORK/user" --server-data-dir "$WORK/server" --extensions-dir "$WORK/ext" > "$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() {
  kill -- -"$SERVER" 2>/dev/null || true   # the whole group: the server's helper processes outlive it briefly
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 240); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.25; done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/" || { cat "$WORK/server.log"; echo "VS Code server did not start" >&2; exit 1; }
log "VS Code server up on port $PORT"

status=0
log "extension tests (mocha inside the extension host)"
NODE_PATH=$TOOLS/cs/node_modules node "$ROOT/out/e2e/runExtensionTests.js" "http://127.0.0.1:$PORT" "$ROOT" "$ROOT/out/e2e/suite.js" "$WORK/workspace" || status=1

log "UI test (Playwright: palette → Start Run → dashboard)"
mkdir -p "$WORK/ui-workspace"
node "$ROOT/out/e2e/ui.js" "http://127.0.0.1:$PORT" "$ROOT" "$WORK/ui-workspace" "$ROOT/test-results" || status=1

log "reload test (Playwright: a run started by grpo.startOnOpen outlives a window reload; Pause / Continue / Stop after it)"
mkdir -p "$WORK/reload-workspace"
node "$ROOT/out/e2e/reload.js" "http://127.0.0.1:$PORT" "$ROOT" "$WORK/reload-workspace" "$ROOT/test-results" || status=1
exit $status
