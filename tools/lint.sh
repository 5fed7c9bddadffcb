#!/usr/bin/env bash
# Lint / format the tree with the tools and settings of mmpretrain (setup.cfg,
# versions in requirements/lint.txt, the same hooks as .pre-commit-config.yaml).
#
#   tools/lint.sh          check only: exit 1 and name what fails (CI, `make lint`)
#   tools/lint.sh --fix    rewrite files in place: isort, yapf, docformatter (`make format`)
#
# Files: the Python files git tracks or would track (untracked, not ignored),
# so build folders, .venv and work_dirs are never touched. LINT_BIN selects the
# folder of the tools (default .venv/bin).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${LINT_BIN:-.venv/bin}
mode=check
[ "${1:-}" = "--fix" ] && mode=fix

mapfile -t py < <(git ls-files --cached --others --exclude-standard -- '*.py' | sort -u | while read -r f; do [ -f "$f" ] && echo "$f"; done)
mapfile -t text < <(git ls-files --cached --others --exclude-standard -- '*.py' '*.md' '*.cfg' '*.ini' '*.yml' '*.yaml' '*.sh' '*.txt' 'Makefile' '.ci/run' | sort -u | while read -r f; do [ -f "$f" ] && echo "$f"; done)
for tool in flake8 isort yapf codespell docformatter; do
  [ -x "$BIN/$tool" ] || { echo "[lint] $BIN/$tool missing: run tools/setup_env.sh (installs requirements/lint.txt)"; exit 2; }
done

if [ "$mode" = fix ]; then
  changed_before=$(git status --porcelain -- "${py[@]}" | wc -l)
  "$BIN/isort" -q "${py[@]}"
  "$BIN/yapf" -i -p "${py[@]}"
  "$BIN/docformatter" --in-place --wrap-descriptions 79 "${py[@]}" || true
  changed_after=$(git status --porcelain -- "${py[@]}" | wc -l)
  echo "[format] files with changes against HEAD: $changed_before before, $changed_after after"
  exit 0
fi

status=0
step() {
  local name=$1; shift
  if "$@"; then echo "[lint] $name: ok"; else echo "[lint] $name: FAILED (make format fixes isort/yapf/docformatter)"; status=1; fi
}
step flake8 "$BIN/flake8" "${py[@]}"
step isort "$BIN/isort" --check-only --diff -q "${py[@]}"
yapf_check() { local out; out=$("$BIN/yapf" --diff -p "${py[@]}"); local rc=$?; [ -n "$out" ] && printf '%s\n' "$out" | head -200; [ $rc -eq 0 ] && [ -z "$out" ]; }
step yapf yapf_check
step codespell "$BIN/codespell" "${text[@]}"
step docformatter "$BIN/docformatter" --check --wrap-descriptions 79 "${py[@]}"
exit $status
