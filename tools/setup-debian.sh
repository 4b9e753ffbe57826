#!/usr/bin/env bash
# Installs the Debian packages medkern builds and tests with. Idempotent: packages that
# are already installed are left alone, and apt is not touched when nothing is missing.
# Run as root (or with sudo available). CUDA is optional and not installed here: the
# build enables it when nvcc and cuBLAS are found (e.g. /usr/local/cuda).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libcjson-dev                                  # JSON: presets, tuning files, results
  libhwloc-dev                                  # host topology, thread pinning
  ocl-icd-opencl-dev opencl-headers clinfo      # Khronos ICD loader and headers
  pocl-opencl-icd                               # OpenCL on the CPU (CI's device)
  libbenchmark-dev                              # Google Benchmark (bench/)
  libbenchmark-tools python3-scipy              # its compare.py, cross-checks `medkern compare`
  python3                                       # test scripts validate JSON with it
  python3-venv                                  # tools/cuda-sass-report: its venv of NVIDIA's PyPI tools
  chromium                                      # headless render of the HTML profile report: tests/cli/profile_html.sh
  python3-jsonschema                            # tests/cli/conform.sh: report vs docs/conform.schema.json
                                                # (and profile_html.sh, profile.sh: docs/profile-report.schema.json)
  valgrind                                      # memcheck stage: tools/run-sanitizers.sh
  oclgrind                                      # OpenCL on a simulated device (bounds, races): tools/run-oclgrind.sh
  clang libclang-rt-14-dev                      # libFuzzer targets: tools/run-fuzz.sh; clang's
                                                # OpenCL front end: test_opencl_kernels_compile
)
if [ "${MEDKERN_SETUP_EXTRA:-}" != "" ]; then
  read -r -a extra <<<"$MEDKERN_SETUP_EXTRA"
  packages+=("${extra[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
