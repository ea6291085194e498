# shellcheck shell=bash
# shellcheck disable=SC2034  # the settings assigned here are read by the scripts that source this
# Shared helpers for the tpu_scripts/*.sh launchers. Sourced, never executed.
#
# Conventions every script follows (so the helpers can rely on them):
#   * settings come from env vars (TPU_NAME, ZONE, PROJECT, ACCELERATOR_TYPE, RUNTIME_VERSION,
#     CAPACITY, QUEUED, QR_NAME, RUNS_ROOT, ...) and `--flag=value` options override them;
#   * DRY_RUN=1 prints every gcloud / tar command, shell-quoted, one per line on STDOUT, instead of
#     running it. Everything else (progress, summaries, hints) goes to STDERR, so the dry-run
#     stdout is exactly a copy-pasteable script;
#   * usage errors exit 2 with a message naming the env var and the flag.

# bash >= 4.4: empty arrays under `set -u`, printf -v. macOS ships 3.2: `brew install bash`.
if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  printf '%s: error: bash >= 4.4 is required (this is %s)\n' "$0" "$BASH_VERSION" >&2
  exit 2
fi

# Resolved once so scripts can find their siblings (worker_run.sh, launch.sh) from any cwd.
STJ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STJ_REPO_ROOT="$(cd "$STJ_DIR/.." && pwd)"
STJ_PROG="$(basename "$0")"

# Where things live on the TPU workers. Fixed paths (not configurable) because launch.sh,
# setup.sh and the worker-side scripts must agree on them across separate ssh sessions.
# Kept unquoted-safe (no spaces) on purpose: they are spliced into remote command strings with a
# leading `~`, which must stay unquoted for the remote shell to expand it.
# shellcheck disable=SC2088  # the tilde is expanded by the remote shell, on purpose
STJ_REMOTE_CODE_DIR='~/stilts-jax'
# shellcheck disable=SC2088
STJ_REMOTE_STAGING_DIR='~/.stilts-jax-staging'
STJ_REMOTE_TARBALL='stilts-jax-code.tgz'

# The default X-STILTs grid (the paper's 9 intermediate tasks + the no-intermediate baseline, 9
# XTREME targets) is the package's (stilts_jax/grid.py, read from the task registry): written down
# once. That module needs only the standard library, so this checkout is enough: nothing has to be
# installed on the machine that runs the sweep, only python3 >= 3.11 (PYTHON=... picks another).
STJ_DEFAULT_SEEDS="1"

stj_log() { printf '%s\n' "$*" >&2; }

stj_die() {
  printf '%s: error: %s\n' "$STJ_PROG" "$*" >&2
  exit 2
}

stj_is_dry_run() {
  case "${DRY_RUN:-0}" in
    '' | 0 | false | no | off) return 1 ;;
    *) return 0 ;;
  esac
}

# Shell-quote an argv into one line that bash (and Python's shlex.split) parse back to the same argv.
stj_quote() {
  local out
  printf -v out '%q ' "$@"
  printf '%s' "${out% }"
}

# Run a command, or in DRY_RUN mode print it (quoted) and pretend it succeeded.
stj_run() {
  if stj_is_dry_run; then
    printf '%s\n' "$(stj_quote "$@")"
    return 0
  fi
  "$@"
}

# stj_require VAR --flag : fail with a message naming both ways of setting VAR.
stj_require() {
  local var="$1" flag="$2"
  if [[ -z "${!var:-}" ]]; then
    stj_die "$var is not set: export $var=... or pass $flag=..."
  fi
}

# Parse one option shared by all scripts. Returns 0 if it consumed "$1", 1 otherwise.
# Only the `--flag=value` form is accepted: launch.sh passes unknown options through to
# stilts-jax, so a space-separated value would be ambiguous.
stj_parse_common() {
  case "$1" in
    --tpu-name=*) TPU_NAME="${1#*=}" ;;
    --zone=*) ZONE="${1#*=}" ;;
    --project=*) PROJECT="${1#*=}" ;;
    --accelerator-type=*) ACCELERATOR_TYPE="${1#*=}" ;;
    --runtime-version=*) RUNTIME_VERSION="${1#*=}" ;;
    --queued) QUEUED=1 ;;
    --qr-name=*) QR_NAME="${1#*=}" ; QUEUED=1 ;;
    --tpu-name | --zone | --project | --accelerator-type | --runtime-version | --qr-name)
      stj_die "use $1=VALUE (with '='), not '$1 VALUE'" ;;
    *) return 1 ;;
  esac
  return 0
}

stj_is_queued() {
  case "${QUEUED:-0}" in
    '' | 0 | false | no | off) return 1 ;;
    *) return 0 ;;
  esac
}

# Queued-resource name: defaults to "<TPU_NAME>-qr" so create/status/delete agree without
# the user having to repeat it.
stj_qr_name() { printf '%s' "${QR_NAME:-${TPU_NAME}-qr}"; }

# Sets the global array STJ_LOC to the zone/project flags every gcloud tpus command takes.
# PROJECT is optional: gcloud falls back to `gcloud config get project`.
stj_loc_flags() {
  STJ_LOC=(--zone="$ZONE")
  if [[ -n "${PROJECT:-}" ]]; then
    STJ_LOC+=(--project="$PROJECT")
  fi
}

# Number of TPU hosts for an accelerator type, or empty if unknown. The suffix counts TensorCores
# (v2/v3/v4/v5p) or chips (v5e/v6e); every type ending in <= 8 fits on one host (v4-8, v5p-8,
# v5litepod-8, v6e-8, v3-8), anything larger spans several hosts.
stj_is_multihost() {
  local acc="${1:-}" n
  n="${acc##*-}"
  [[ "$n" =~ ^[0-9]+$ ]] || return 2
  ((n > 8))
}

# Default TPU VM runtime image for an accelerator family (Cloud TPU docs, "TPU software versions").
stj_default_runtime() {
  case "${1:-}" in
    v2-* | v3-* | v4-*) printf 'tpu-ubuntu2204-base' ;;
    v5litepod-* | v5e-*) printf 'v2-alpha-tpuv5-lite' ;;
    v5p-*) printf 'v2-alpha-tpuv5' ;;
    v6e-*) printf 'v2-alpha-tpuv6e' ;;
    *) return 1 ;;
  esac
}

# Split a comma- or space-separated list into the named array.
stj_split_list() {
  local raw="${2//,/ }"
  read -r -a "$1" <<<"$raw"
}

# Grid lists: env INTERMEDIATES / TARGETS / SEEDS, overridable by --intermediates= etc.
stj_parse_grid() {
  case "$1" in
    --intermediates=*) INTERMEDIATES="${1#*=}" ;;
    --targets=*) TARGETS="${1#*=}" ;;
    --seeds=*) SEEDS="${1#*=}" ;;
    --runs-root=*) RUNS_ROOT="${1#*=}" ;;
    --config-file=*) CONFIG_FILE="${1#*=}" ;;
    --intermediates | --targets | --seeds | --runs-root | --config-file)
      stj_die "use $1=VALUE (with '='), not '$1 VALUE'" ;;
    *) return 1 ;;
  esac
  return 0
}

# The package's default list of `intermediates` or `targets` (python -m stilts_jax.grid), from this
# checkout's code: run in the checkout, which Python puts first on the module path. Only its stdout
# is the list (a warning on stderr must not become a task name).
stj_package_grid() {
  local python="${PYTHON:-python3}" out err
  err="$(mktemp)"
  if ! out="$(cd "$STJ_REPO_ROOT" && "$python" -m stilts_jax.grid "$1" 2>"$err")" ||
    [[ ! "$out" =~ ^[a-z0-9_]+( [a-z0-9_]+)*$ ]]; then
    out="$(tail -n 1 "$err")"
    rm -f "$err"
    stj_die "cannot read the default $1 from $STJ_REPO_ROOT/stilts_jax/grid.py with '$python' (${out:-no output}): run it with a Python >= 3.11 (PYTHON=/path/to/python3.11), or pass --$1=LIST"
  fi
  rm -f "$err"
  printf '%s' "$out"
}

# Fills STJ_GRID with "intermediate target seed" triples, seed-major so that a budget-limited
# sweep finishes a complete seed-1 grid before starting seed 2.
stj_build_grid() {
  local -a ints tgts seeds
  local default_ints="" default_tgts=""
  if [[ -z "${INTERMEDIATES:-}" ]]; then default_ints="$(stj_package_grid intermediates)" || exit 2; fi
  if [[ -z "${TARGETS:-}" ]]; then default_tgts="$(stj_package_grid targets)" || exit 2; fi
  stj_split_list ints "${INTERMEDIATES:-$default_ints}"
  stj_split_list tgts "${TARGETS:-$default_tgts}"
  stj_split_list seeds "${SEEDS:-$STJ_DEFAULT_SEEDS}"
  ((${#ints[@]} && ${#tgts[@]} && ${#seeds[@]})) || stj_die "empty INTERMEDIATES, TARGETS or SEEDS list"
  STJ_GRID=()
  local s i t
  for s in "${seeds[@]}"; do
    for i in "${ints[@]}"; do
      for t in "${tgts[@]}"; do
        STJ_GRID+=("$i $t $s")
      done
    done
  done
}

stj_run_name() { printf '%s__%s__seed%s' "$1" "$2" "$3"; }

# RUNS_ROOT without a trailing slash, validated: gs:// or a local path.
stj_runs_root() {
  local root="${RUNS_ROOT%/}"
  case "$root" in
    gs://*) ;;
    *://*) stj_die "RUNS_ROOT must be gs://... or a local path, got '$RUNS_ROOT'" ;;
  esac
  printf '%s' "$root"
}

# 0 if WORKDIR has the pipeline's COMPLETED marker. For gs:// in DRY_RUN mode the check is only
# printed (no network) and the run counts as not done; local paths are always really checked
# (no network involved), which is what the offline tests rely on.
stj_run_done() {
  local workdir="$1"
  case "$workdir" in
    gs://*)
      if stj_is_dry_run; then
        stj_run gcloud storage ls "$workdir/COMPLETED"
        return 1
      fi
      gcloud storage ls "$workdir/COMPLETED" >/dev/null 2>&1
      ;;
    *) [[ -f "$workdir/COMPLETED" ]] ;;
  esac
}
