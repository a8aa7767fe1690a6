#!/bin/bash
# Runs on the GPU machine, in the repository root, with .gpu and .gl carried (bench/gpu/README.md):
# webgpu latency of .gpu/models (bench/webgpu.ts) and the training-step bench on webgpu. Results go to $OUT.
# Settings: RUNS, BATCHES (1,64), NAME (of the latency results, webgpu), TRAIN_RUNS, TRAIN_MODELS, COMPARE (kernels to time against webgpu's own), WEBGPU_S, TRAIN_S.
# TRAIN_S=0 skips the training-step bench.
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
[ -n "$icd" ] && export VK_DRIVER_FILES=$icd
[ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ] && export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-none}"
xz -dc .gpu/node.xz > /tmp/node && chmod +x /tmp/node
mkdir -p .gpu/node_modules/webgpu/dist/linux-x64 && xz -dc .gpu/dawn.node.xz > .gpu/node_modules/webgpu/dist/linux-x64/dawn.node
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)
echo "gpu: $gpu"
export GFP_RESULTS=$OUT
cd .gpu
timeout "${WEBGPU_S:-300}" /tmp/node webgpu.js --tree models --runs "${RUNS:-20}" --batches "${BATCHES:-1,64}" --name "${NAME:-webgpu}" --gpu "$gpu" 2>&1 | tee "$OUT/webgpu.log"
[ "${TRAIN_S:-150}" -gt 0 ] && timeout "${TRAIN_S:-150}" /tmp/node train_step.js --backend webgpu --runs "${TRAIN_RUNS:-3}" --models "${TRAIN_MODELS:-resnet20,mobilenetv2,resnext}" \
  ${COMPARE:+--compare "$COMPARE"} 2>&1 | tee "$OUT/train_step.log"
ls -la "$OUT"
