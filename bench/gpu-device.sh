#!/usr/bin/env bash
# Runs on the GPU machine, in the repository root, with .gpu-carry/ and .gl/ from bench/gpu-carry.sh:
# Vulkan loader, the GPU setup report, then the benchmark (numerics, GRPO step phases, PyTorch eager).
#   bash bench/gpu-device.sh [bench-gpu.js options, e.g. --backends webgpu --models small,base,gpt2-124m]
# Results go to $OUT (the device tool's output folder) or /tmp/gpu-out.
set -euo pipefail
CARRY=.gpu-carry
OUT_DIR=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT_DIR"

shopt -s nullglob
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
# Containers mount the NVIDIA driver's Vulkan manifest outside the loader's search path.
if [ -z "${VK_DRIVER_FILES:-}" ] && [ ! -e /usr/share/vulkan/icd.d/nvidia_icd.json ] && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi

NODE=$(command -v node || true)
if [ -z "$NODE" ]; then
  gunzip -c "$CARRY/node.gz" > /tmp/node && chmod +x /tmp/node && NODE=/tmp/node
fi
gunzip -c "$CARRY/dawn.node.gz" > /tmp/dawn.node
export GRPO_DAWN_NODE=/tmp/dawn.node
# The bundles find the .wasm files (and the threaded build's worker script) next to themselves.
mkdir -p dist && cp "$CARRY"/cli.js "$CARRY"/bench-gpu.js "$CARRY"/*.wasm "$CARRY"/tfjs-backend-wasm-threaded-simd.js dist/

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$NODE" dist/cli.js doctor --numerics 2>&1 | tee "$OUT_DIR/doctor.md"
"$NODE" dist/bench-gpu.js --out "$OUT_DIR" "$@" 2>&1 | tee "$OUT_DIR/bench.log"
