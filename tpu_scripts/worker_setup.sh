#!/usr/bin/env bash
# Runs ON EACH TPU WORKER (setup.sh invokes it over `gcloud ... ssh --worker=all`) from the freshly
# uploaded/cloned copy in ~/.stilts-jax-staging. Swaps that copy into ~/stilts-jax, creates the
# venv ~/stilts-venv with Python >= 3.11 and installs `.[tpu]` into it. Idempotent: re-running it
# after a code change only reinstalls.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: worker_setup.sh

Runs on a TPU worker (setup.sh calls it on every worker). Moves the code it was shipped with into
~/stilts-jax, creates ~/stilts-venv (Python >= 3.11; installs python3.11 with apt on Ubuntu 22.04
images, whose python3 is 3.10) and runs `pip install -e ".[tpu]"`.

Env: STILTS_VENV (default ~/stilts-venv), STILTS_LOG_DIR (default ~/stilts-logs),
     PYTHON (interpreter to build the venv from),
     HF_CACHE_GCS (gs:// copy of a Hugging Face cache to pull into HF_HOME, default
     ~/.cache/huggingface, so a recreated VM does not re-download datasets/models).
EOF
}

die() {
  printf 'worker_setup.sh: error: %s\n' "$*" >&2
  exit 2
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  '') ;;
  *) die "unknown argument '$1'" ;;
esac

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
code_dir="$HOME/stilts-jax"
venv="${STILTS_VENV:-$HOME/stilts-venv}"
active="${STILTS_LOG_DIR:-$HOME/stilts-logs}/active"
host="$(hostname)"

# Replacing the code under a running job would break it in confusing ways; refuse instead.
if [[ -f "$active" ]]; then
  read -r pid name <"$active" || true
  if [[ "${pid:-}" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    die "$host: run ${name:-?} (pid $pid) is active; wait for it to finish before setup"
  fi
fi

if [[ "$src" != "$code_dir" ]]; then
  rm -rf "$code_dir"
  mv "$src" "$code_dir"
fi
cd "$code_dir"

pick_python() {
  local c
  for c in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      printf '%s' "$c"
      return 0
    fi
  done
  # Ubuntu 22.04 (tpu-ubuntu2204-base, v2-alpha-tpuv5*) ships 3.10; 3.11 is in jammy's universe.
  printf '%s: installing python3.11 with apt\n' "$host" >&2
  sudo apt-get update -qq >&2
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11 python3.11-venv >&2
  printf 'python3.11'
}

if [[ ! -x "$venv/bin/python" ]]; then
  py="$(pick_python)"
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[tpu]"

if [[ -n "${HF_CACHE_GCS:-}" ]]; then
  hf_home="${HF_HOME:-$HOME/.cache/huggingface}"
  mkdir -p "$hf_home"
  gcloud storage rsync --recursive "$HF_CACHE_GCS" "$hf_home"
fi

# Import only: initializing the TPU backend here would grab the chips (and on multi-host slices
# wait for the other hosts).
"$venv/bin/python" -c 'import jax, stilts_jax; print("jax", jax.__version__, "ok")' |
  sed "s/^/$host: /"
