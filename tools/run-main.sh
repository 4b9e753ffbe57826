#!/usr/bin/env bash
# README's first command: installs what is missing, builds, shows the devices, and runs
# the main job on the best available device.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tools/setup-debian.sh"
# MEDKERN_CUDA stays at its default, AUTO: CUDA is compiled only when a GPU is present,
# for that GPU alone.
bash "$root/tools/build.sh"
build="${MEDKERN_BUILD_DIR:-$root/build}"
mk="$build/tools/medkern"
"$mk" info
# The main job: `medkern profile` of Meditron-7B (Llama-2 shapes, 32 layers) on the best
# available device, after `medkern calibrate` has measured that device's ceilings for the
# roofline columns (cached; seconds). On a GPU: the whole model, a 512-token prompt and 64
# decode steps. Without one (CI's 2-core CPU through PoCL, or the ref device), or when the
# GPU cannot run every op yet, a full 7B run would take hours: 2 of the 32 layers (times
# scaled to the model, and the report says so), a 32-token prompt and 4 decode steps, on
# the best device that has every kernel: under a minute.
"$mk" calibrate
gpu=$("$mk" info | awk '$2 == "gpu" { print $1; exit }')
if [ -n "$gpu" ] && "$mk" profile meditron-7b --device "$gpu" --prompt 512 --gen 64; then
  exit 0
fi
[ -n "$gpu" ] && echo "run-main: $gpu could not run the whole profile (above)"
echo "run-main: profiling 2 of meditron-7b's 32 layers, prompt 32, 4 decode steps (scaled to the model)"
"$mk" profile meditron-7b --layers 2 --prompt 32 --gen 4
