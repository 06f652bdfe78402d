#!/usr/bin/env bash
# `npm start`: opens a real VS Code with GRPO Studio and a demo run going.
#   - the local `code` if it is on PATH: a new Extension Development Host window;
#   - otherwise (headless machines) the VS Code server from code-server, on 127.0.0.1, with the extension installed
#     from a freshly packaged .vsix; it prints the URL to open and runs until Ctrl-C.
# The demo workspace (.grpo-demo/, ignored by git) has `grpo.startOnOpen` set to the built-in example.
# `--install-only` (used by `npm run setup`) prepares everything and exits.
# GRPO_TOOLS (default .tools/) holds the shared tools (Node 24, code-server) and may serve several checkouts; what
# belongs to this checkout (its packaged extension, the server's installed extensions and state) is kept in
# .grpo-server/ here, so two checkouts sharing GRPO_TOOLS do not overwrite each other's installed extension.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${GRPO_TOOLS:-$ROOT/.tools}
PORT=${GRPO_PORT:-8123}
DEMO=$ROOT/.grpo-demo
DEMO_CONFIG=${GRPO_DEMO_CONFIG:-$ROOT/examples/arithmetic.json}
INSTALL_ONLY=false
[ "${1:-}" = "--install-only" ] && INSTALL_ONLY=true

[ -f "$ROOT/dist/extension.js" ] || (cd "$ROOT" && npm run build)
mkdir -p "$DEMO/.vscode"
cat > "$DEMO/.vscode/settings.json" <<JSON
{
  "grpo.startOnOpen": "$DEMO_CONFIG",
  "workbench.startupEditor": "none",
  "git.openRepositoryInParentFolders": "never"
}
JSON

if command -v code >/dev/null && [ -z "${GRPO_USE_SERVER:-}" ]; then
  $INSTALL_ONLY && { echo "setup done: 'npm start' opens VS Code ($(command -v code))"; exit 0; }
  echo "Opening VS Code with GRPO Studio (Extension Development Host) on $DEMO"
  exec code --new-window --extensionDevelopmentPath="$ROOT" "$DEMO"
fi

bash "$ROOT/test/e2e/setup-tools.sh"
NODE24=$TOOLS/node24/node_modules/node/bin/node
SERVER_MAIN=$TOOLS/cs/node_modules/code-server/lib/vscode/out/server-main.js
STATE=$ROOT/.grpo-server
mkdir -p "$STATE"
(cd "$ROOT" && npx vsce package --no-dependencies --allow-missing-repository --no-rewrite-relative-links -o "$STATE/grpo-studio.vsix" >/dev/null)
"$NODE24" "$SERVER_MAIN" --extensions-dir "$STATE/ext" --user-data-dir "$STATE/user" --server-data-dir "$STATE/server" \
  --install-extension "$STATE/grpo-studio.vsix" --force >/dev/null
$INSTALL_ONLY && { echo "setup done: 'npm start' serves VS Code with GRPO Studio on http://127.0.0.1:$PORT/"; exit 0; }

URL="http://127.0.0.1:$PORT/?folder=$DEMO"
echo "GRPO Studio in VS Code: open $URL"
echo "(a demo run of $(basename "$DEMO_CONFIG") starts when the window opens; Ctrl-C stops the server)"
exec "$NODE24" "$SERVER_MAIN" --host 127.0.0.1 --port "$PORT" --without-connection-token --accept-server-license-terms \
  --disable-telemetry --disable-workspace-trust --extensions-dir "$STATE/ext" --user-data-dir "$STATE/user" --server-data-dir "$STATE/server"
