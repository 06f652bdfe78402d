#!/usr/bin/env bash
# Prepares what the GPU benchmark needs on a machine without node_modules (the device machine of docs/gpu.md):
# .gpu-carry/ with the bundled CLI and benchmark, the tfjs wasm binaries, dawn.node and a Node binary (gzipped), and
# .gl/ with the Vulkan loader packages. Both folders are in .gitignore; together about 50 MiB (the carry limit is 64).
#   bash bench/gpu-carry.sh          (then, there: bash bench/gpu-device.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CARRY=.gpu-carry

npm run --silent build
rm -rf "$CARRY" && mkdir -p "$CARRY"
cp dist/cli.js dist/bench-gpu.js dist/*.wasm dist/tfjs-backend-wasm-threaded-simd.js "$CARRY"/
DAWN=node_modules/webgpu/dist/linux-x64/dawn.node
[ -f "$DAWN" ] || { echo "missing $DAWN: npm install (the optional package webgpu)" >&2; exit 1; }
gzip -c "$DAWN" > "$CARRY/dawn.node.gz"
# The device image has Python and PyTorch but maybe no Node: bring this machine's (x86-64, glibc).
gzip -c "$(readlink -f "$(command -v node)")" > "$CARRY/node.gz"

# The Vulkan loader and GL dispatch libraries, as the device tool's README says (its .gl folder, also git-ignored).
if [ ! -d .gl ] || ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh "$CARRY" .gl
echo "carry: [\"$CARRY\", \".gl\"]; command: bash bench/gpu-device.sh"
