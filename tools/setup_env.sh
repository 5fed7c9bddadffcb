#!/usr/bin/env bash
# Create (or complete) the project's virtual environment with the reference stack of
# requirements/reference.txt, the lint tools of requirements/lint.txt (`make lint`) and
# the documentation tools of requirements/docs.txt (`make docs`).
# Idempotent: each step is skipped when already satisfied, so `make demo` / `make test`
# call it every time at almost no cost.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
REQ=requirements/reference.txt
LINT=requirements/lint.txt
DOCS=requirements/docs.txt
stamp="$VENV/.infmae_mm_env_ok"
docs_stamp="$VENV/.infmae_mm_docs_ok"

log() { printf '[setup_env] %s\n' "$*"; }
pip() { "$VENV/bin/python" -m pip "$@"; }
# The docs tools have their own stamp, so an environment set up before they
# existed (or after requirements/docs.txt changed) gets them in seconds,
# without re-running the rest.
docs_tools() {
  if [ -f "$docs_stamp" ] && cmp -s "$DOCS" "$docs_stamp"; then return 0; fi
  if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    log "docs tools skipped: requirements/docs.txt (Sphinx 8) needs Python >= 3.10; make docs is unavailable here"
    return 0
  fi
  log "docs tools (requirements/docs.txt)"
  pip install -q -c "$REQ" -r "$DOCS"
  cp "$DOCS" "$docs_stamp"
}

# The stamp holds both requirement files: editing either re-runs the set-up.
if [ -f "$stamp" ] && cat "$REQ" "$LINT" | cmp -s - "$stamp"; then docs_tools; exit 0; fi

[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }

# Every install is constrained by the reference file, so no dependency can
# drag in another numpy, opencv or setuptools on the way.
log "build tools"
pip install -q --upgrade pip wheel -c "$REQ" setuptools ninja
log "torch / torchvision (registry builds; CPU works, CUDA used where present)"
pip install -q -c "$REQ" torch torchvision numpy
if ! "$VENV/bin/python" -c "import mmcv.ops" 2>/dev/null; then
  log "mmcv with its ops, built from source against the installed torch (about 7 min on 2 cores the first time; pip caches the wheel)"
  MAX_JOBS=${MAX_JOBS:-2} pip install --no-build-isolation -c "$REQ" mmengine mmcv
fi
log "OpenMMLab hosts and the rest of the reference stack"
pip install -q -r "$REQ"
log "lint tools (requirements/lint.txt)"
pip install -q -c "$REQ" -r "$LINT"
rm -f "$docs_stamp"
docs_tools
log "infmae_mm (editable)"
pip install -q --no-build-isolation --no-deps -e .
"$VENV/bin/python" -c "import torch, mmcv.ops, mmpretrain, mmseg, mmdet, infmae_mm; print('[setup_env] ok: torch', torch.__version__, 'mmcv', mmcv.__version__)"
cat "$REQ" "$LINT" > "$stamp"
