#!/usr/bin/env bash
# Ship the code to every worker of the TPU VM and install it (`pip install -e ".[tpu]"` in a venv).
# Re-run after every code change: it only re-copies and reinstalls.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<'EOF'
Usage: setup.sh [--tpu-name=NAME] [--zone=ZONE] [--project=PROJECT]
                [--repo-url=URL [--repo-ref=REF]] [--source-dir=DIR] [--hf-cache-gcs=gs://...]

Copies the code to ~/stilts-jax on every worker and installs it into ~/stilts-venv
(Python >= 3.11, `pip install -e ".[tpu]"`), via tpu_scripts/worker_setup.sh on each worker.

Code source (default: this checkout, including uncommitted changes):
  --source-dir=DIR      local tree to upload (env SOURCE_DIR; default: the repo containing this
                        script). Packed with tar (skipping .git, venvs, caches), sent with
                        `gcloud compute tpus tpu-vm scp --worker=all`, unpacked on each worker.
  --repo-url=URL        instead, `git clone` URL on every worker (env REPO_URL)
  --repo-ref=REF        branch or tag to clone (env REPO_REF; default: the remote's HEAD)

Settings (env var / flag):
  TPU_NAME  --tpu-name=   TPU VM name (required)
  ZONE      --zone=       e.g. us-central2-b (required)
  PROJECT   --project=    GCP project (default: gcloud's configured project)
  HF_CACHE_GCS --hf-cache-gcs=  gs:// copy of a Hugging Face cache to rsync into each worker's
                        HF_HOME (~/.cache/huggingface), so recreated VMs skip downloads

DRY_RUN=1 prints the tar/gcloud commands instead of running them.
EOF
}

SOURCE_DIR="${SOURCE_DIR:-$(cd "$STJ_DIR/.." && pwd)}"
while (($#)); do
  if stj_parse_common "$1"; then shift; continue; fi
  case "$1" in
    --repo-url=*) REPO_URL="${1#*=}" ;;
    --repo-ref=*) REPO_REF="${1#*=}" ;;
    --source-dir=*) SOURCE_DIR="${1#*=}" ;;
    --hf-cache-gcs=*) HF_CACHE_GCS="${1#*=}" ;;
    -h | --help) usage; exit 0 ;;
    *) stj_die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

stj_require TPU_NAME --tpu-name
stj_require ZONE --zone
stj_loc_flags

# Remote: pass HF_CACHE_GCS through to worker_setup.sh only when set.
remote_env=""
if [[ -n "${HF_CACHE_GCS:-}" ]]; then
  [[ "$HF_CACHE_GCS" == gs://* ]] || stj_die "HF_CACHE_GCS must be a gs:// URL, got '$HF_CACHE_GCS'"
  remote_env="env $(stj_quote "HF_CACHE_GCS=$HF_CACHE_GCS") "
fi
install_cmd="${remote_env}bash $STJ_REMOTE_STAGING_DIR/tpu_scripts/worker_setup.sh"

if [[ -n "${REPO_URL:-}" ]]; then
  clone=(git clone --depth=1)
  if [[ -n "${REPO_REF:-}" ]]; then clone+=(--branch="$REPO_REF"); fi
  clone+=("$REPO_URL")
  remote="rm -rf $STJ_REMOTE_STAGING_DIR && $(stj_quote "${clone[@]}") $STJ_REMOTE_STAGING_DIR && $install_cmd"
  stj_log "setup: cloning $REPO_URL on every worker of $TPU_NAME and installing"
  stj_run gcloud compute tpus tpu-vm ssh "$TPU_NAME" "${STJ_LOC[@]}" --worker=all --command="$remote"
  exit 0
fi

[[ -f "$SOURCE_DIR/pyproject.toml" ]] || stj_die "SOURCE_DIR=$SOURCE_DIR has no pyproject.toml; set SOURCE_DIR/--source-dir or REPO_URL/--repo-url"

# A tarball rather than `scp --recurse DIR`: it skips .git/venvs/caches (which can dwarf the code)
# and avoids scp's "copy into DIR/DIR if DIR already exists" trap on re-runs.
if stj_is_dry_run; then
  # A stable path so the printed commands can be pasted as they are.
  tarball="${TMPDIR:-/tmp}/$STJ_REMOTE_TARBALL"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  tarball="$tmp/$STJ_REMOTE_TARBALL"
fi
# COPYFILE_DISABLE keeps macOS tar from adding ._* resource-fork files.
stj_log "setup: packing $SOURCE_DIR"
stj_run env COPYFILE_DISABLE=1 tar -czf "$tarball" \
  --exclude=.git --exclude=.venv --exclude=venv --exclude=__pycache__ --exclude='*.egg-info' \
  --exclude=.pytest_cache --exclude=.mypy_cache --exclude=.ruff_cache \
  -C "$SOURCE_DIR" .
stj_log "setup: copying to every worker of $TPU_NAME"
stj_run gcloud compute tpus tpu-vm scp "$tarball" "$TPU_NAME:$STJ_REMOTE_TARBALL" "${STJ_LOC[@]}" --worker=all
remote="rm -rf $STJ_REMOTE_STAGING_DIR && mkdir -p $STJ_REMOTE_STAGING_DIR"
remote+=" && tar -xzf ~/$STJ_REMOTE_TARBALL -C $STJ_REMOTE_STAGING_DIR && rm -f ~/$STJ_REMOTE_TARBALL"
remote+=" && $install_cmd"
stj_log "setup: installing on every worker (first time: a few minutes)"
stj_run gcloud compute tpus tpu-vm ssh "$TPU_NAME" "${STJ_LOC[@]}" --worker=all --command="$remote"
