#!/usr/bin/env bash
# `npm test`: build, unit + integration tests (mocha), the webview tests (Chromium), then the real-VS-Code tests. Prints one closing line,
# "tests: N passed, M failed", summed over all stages; exits non-zero if any stage failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
status=0

run_stage() {
  echo "== $1"
  shift
  "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || { echo "== stage failed with exit code $rc"; status=1; }
}

run_stage "build" npm run --silent build
if [ $status -eq 0 ]; then
  run_stage "unit and integration tests (mocha)" npx mocha --color=false
  run_stage "webview tests (Playwright in headless Chromium, fixtures)" npx mocha --color=false --config test/webview/.mocharc.json
  run_stage "extension tests in a real VS Code" bash test/e2e/run.sh
fi

# mocha: "  36 passing (2s)" / "  1 failing"; the UI script: "ui: 4 passed, 0 failed".
passed=$(grep -Eo '^ *[0-9]+ passing' "$LOG" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^ *[0-9]+ failing' "$LOG" | awk '{s+=$1} END {print s+0}')
ui_passed=$(grep -Eo '^ui: [0-9]+ passed' "$LOG" | awk '{s+=$2} END {print s+0}')
ui_failed=$(grep -Eo '^ui: [0-9]+ passed, [0-9]+ failed' "$LOG" | awk '{s+=$4} END {print s+0}')
passed=$((passed + ui_passed)); failed=$((failed + ui_failed))
if [ $status -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # a stage that broke before counting still fails
echo "tests: $passed passed, $failed failed"
exit $status
