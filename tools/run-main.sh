#!/usr/bin/env bash
# README's first command: installs what is missing, builds, shows the devices, and runs
# the main job on the best available device.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tools/setup-debian.sh"
bash "$root/tools/build.sh"
build="${MEDKERN_BUILD_DIR:-$root/build}"
"$build/tools/medkern" info
"$build/tools/medkern" run-model
