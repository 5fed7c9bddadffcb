#!/usr/bin/env bash
# Fetch, into .whl/ (ignored by git), the wheels that tools/gpu_check.sh needs
# on a GPU machine that has PyTorch but none of the OpenMMLab hosts and no
# network (Python 3.12, numpy 2; see docs/en/user_guides/gpu.md). Run it here, then
# carry .whl to the GPU machine and install with --no-deps into /tmp/site.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
PYVER=${GPU_PYTHON_VERSION:-3.12}
mkdir -p .whl
# mmcv-lite is mmcv 2.1.0 without compiled ops (gpu_check.py installs an
# nms / RoIAlign fallback); importlib-metadata 8.7 (10.x needs lazy-importer);
# setuptools < 81 for pkg_resources (mmengine's `mmpretrain::` configs).
WHEELS=(
  mmengine==0.10.7 mmcv-lite==2.1.0 mmpretrain==1.2.0 mmsegmentation==1.2.2
  mmdet==3.3.0 setuptools==80.9.0 addict==2.4.0 yapf==0.43.0
  platformdirs==4.14.8 termcolor==3.3.0 modelindex==0.0.2 model-index==0.1.11
  ordered-set==4.1.0 mat4py==0.6.0 importlib-metadata==8.7.0 ftfy==6.3.1
  prettytable==3.18.0 wcwidth==0.9.4 shapely==2.2.0 terminaltables==3.1.10
  pycocotools==2.0.11
)
"$PY" -m pip download -q --no-deps --only-binary=:all: \
  --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "${WHEELS[@]}"
ls .whl
