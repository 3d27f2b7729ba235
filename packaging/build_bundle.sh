#!/usr/bin/env bash
# Build dist/cnnstudio/ from a fresh build environment with the CPU-only TensorFlow wheel
# (tensorflow-cpu: no GPU kernels, so the bundle is far smaller), then smoke-test it.
#   bash packaging/build_bundle.sh            # CPU bundle (default)
#   GPU=1 bash packaging/build_bundle.sh      # GPU bundle: tensorflow[and-cuda] (CUDA wheels travel along)
set -euo pipefail
cd "$(dirname "$0")/.."
env_dir=${BUNDLE_ENV:-build/bundle-env}
rm -rf "$env_dir"
python3 -m venv "$env_dir"
if [ "${GPU:-0}" = 1 ]; then tf="tensorflow[and-cuda]>=2.21"; else tf="tensorflow-cpu>=2.21"; fi
"$env_dir/bin/pip" install -q "$tf" "keras>=3.15.1" "numpy>=1.26" "pillow>=10.0" "matplotlib>=3.8" \
    "PySide6-Essentials>=6.7,!=6.12.0" "platformdirs>=4.0" "pyinstaller>=6.10"
"$env_dir/bin/pip" install -q --no-deps -e .
start=$(date +%s)
"$env_dir/bin/pyinstaller" build.spec --noconfirm --distpath "${DIST:-dist}" --workpath build/pyinstaller
echo "build took $(( $(date +%s) - start )) s; bundle size $(du -sh "${DIST:-dist}/cnnstudio" | cut -f1)"
QT_QPA_PLATFORM=offscreen "${DIST:-dist}/cnnstudio/cnnstudio" --smoke-test
