#!/bin/sh
# Prepares what the GPU machine needs (it has no node and no network): .gpu/ holds node, the benches bundled
# with esbuild, the webgpu package's Linux binary and the models to time (runs/ablation/<model>/<variant> and
# each model's starting point as 'baseline'), node and dawn.node xz-compressed (the carry limit is 64 MiB); .gl/ holds Debian's Vulkan loader and glvnd packages.
# Both folders are git-ignored through .git/info/exclude and carried by the device tool: see bench/gpu/README.md.
# DETECTORS="name=BASELINE_DIR:WORK_DIR ..." takes detectors (bench/detection.ts) instead of the ablation's models.
set -e
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude || echo /.gpu/ >> .git/info/exclude
grep -qx '/.gl/' .git/info/exclude || echo /.gl/ >> .git/info/exclude
npm run build --silent
mkdir -p .gpu/node_modules/webgpu .gl
[ -s .gpu/node.xz ] || xz -T0 -6 -c "$(command -v node)" > .gpu/node.xz
cp node_modules/webgpu/package.json node_modules/webgpu/index.js .gpu/node_modules/webgpu/
[ -s .gpu/dawn.node.xz ] || xz -T0 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > .gpu/dawn.node.xz
for b in webgpu train_step; do
  npx esbuild "dist/bench/$b.js" --bundle --platform=node --target=node20 --external:webgpu --external:playwright-core --minify \
    --log-level=error --outfile=".gpu/$b.js"
done
rm -rf .gpu/models
copy() { mkdir -p ".gpu/models/$2" && cp "$1/model.json" "$1/weights.bin" ".gpu/models/$2/"; }
if [ -n "${DETECTORS:-}" ]; then
  # DETECTORS="name=BASELINE_DIR:WORK_DIR ...": bench/detection.ts's baseline and its memory and flops models
  # (the ablation's models stay home: both trees together exceed the carry limit)
  for spec in $DETECTORS; do
    name=${spec%%=*}; dirs=${spec#*=}; base=${dirs%%:*}; work=${dirs#*:}
    copy "$base" "$name/baseline"
    for v in memory flops; do copy "$work/$v" "$name/$v"; done
  done
else
  for dir in runs/ablation/*/*/; do
    [ -f "$dir/model.json" ] || continue
    copy "$dir" "$(basename "$(dirname "$dir")")/$(basename "$dir")"
  done
  for m in .gpu/models/*/; do
    model=$(basename "$m")
    for base in "datasets/pretrained/$model" "runs/pretrain/$model"; do
      if [ -f "$base/model.json" ]; then copy "$base" "$model/baseline"; break; fi
    done
  done
fi
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial && apt-get $o update >/dev/null
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .gpu .gl
