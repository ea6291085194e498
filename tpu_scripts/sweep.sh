#!/usr/bin/env bash
# The X-STILTs grid (intermediate x target x seed) as a restartable queue on one TPU VM: runs one
# after the other (each uses the whole slice), skips runs whose workdir has the COMPLETED marker,
# and relaunches unfinished ones, which resume from their last checkpoint. After a preemption,
# recreate the VM (create.sh + setup.sh) and run the same sweep.sh command again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<EOF
Usage: sweep.sh [--runs-root=ROOT] [--intermediates=LIST] [--targets=LIST] [--seeds=LIST]
                [--config-file=PATH] [--retries=N] [--fail-fast] [--tpu-name=..] [--zone=..]
                [--project=..] [--accelerator-type=..] [-- EXTRA_STILTS_JAX_ARGS...]

For each seed, intermediate and target (in that nesting order, so a whole seed-1 grid finishes
before seed 2 starts), with workdir ROOT/INTERMEDIATE__TARGET__seedSEED:
  * COMPLETED marker present -> skipped;
  * otherwise launch.sh --attach --config=CONFIG_FILE:intermediate=I,target=T,seed=S
    --workdir=WORKDIR EXTRA_STILTS_JAX_ARGS... (a preempted run resumes from its checkpoint).
Prints a summary (done / skipped / failed) and exits 1 if any run failed.

Settings (env var / flag):
  RUNS_ROOT      --runs-root=       gs://bucket/runs, or a local path (required)
  INTERMEDIATES  --intermediates=   comma/space list (default: the paper's 9 and none,
                                    python -m stilts_jax.grid intermediates)
  TARGETS        --targets=         comma/space list (default: XTREME's 9,
                                    python -m stilts_jax.grid targets)
  SEEDS          --seeds=           comma/space list (default: $STJ_DEFAULT_SEEDS)
  CONFIG_FILE    --config-file=     config file on the workers (default: configs/stilts.py)
  RETRIES        --retries=N        relaunch a failed run up to N more times (default: 0)
                 --fail-fast        stop at the first failed run (default: go on)
  TPU_NAME, ZONE, PROJECT, ACCELERATOR_TYPE: as for launch.sh (TPU_NAME, ZONE required)

Run it where it can live for days (tmux/screen, or a small GCE VM): if this process dies the
current run keeps going on the TPU, and the next sweep.sh re-attaches to it.
DRY_RUN=1 prints the launch commands of the runs that are not done instead of running them
(COMPLETED is really checked for a local RUNS_ROOT; for gs:// the check is only printed).
EOF
}

RETRIES="${RETRIES:-0}"
fail_fast=0
extra=()
while (($#)); do
  if stj_parse_common "$1" || stj_parse_grid "$1"; then shift; continue; fi
  case "$1" in
    --retries=*) RETRIES="${1#*=}" ;;
    --fail-fast) fail_fast=1 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra+=("$@"); break ;;
    *) stj_die "unknown argument '$1' (stilts-jax arguments go after --; see --help)" ;;
  esac
  shift
done

stj_require TPU_NAME --tpu-name
stj_require ZONE --zone
stj_require RUNS_ROOT --runs-root
[[ "$RETRIES" =~ ^[0-9]+$ ]] || stj_die "RETRIES/--retries must be a number, got '$RETRIES'"
root="$(stj_runs_root)"
config_file="${CONFIG_FILE:-configs/stilts.py}"
if [[ "$root" != gs://* ]] && ! stj_is_dry_run; then
  # The workers write COMPLETED; this machine checks it. Only a path both see (or a test) works.
  stj_log "warning: RUNS_ROOT=$root is local: COMPLETED markers are checked on this machine, so it must be storage shared with every worker (use gs:// for real sweeps)"
fi
stj_build_grid
# launch.sh reads the same settings from the environment.
export TPU_NAME ZONE PROJECT ACCELERATOR_TYPE QUEUED QR_NAME

done_runs=() skipped=() failed=() planned=()
n=${#STJ_GRID[@]} k=0
for triple in "${STJ_GRID[@]}"; do
  read -r inter target seed <<<"$triple"
  k=$((k + 1))
  name="$(stj_run_name "$inter" "$target" "$seed")"
  workdir="$root/$name"
  if stj_run_done "$workdir"; then
    stj_log "[$k/$n] $name: COMPLETED, skipping"
    skipped+=("$name")
    continue
  fi
  launch=(bash "$STJ_DIR/launch.sh" --attach --run-name="$name"
    --config="$config_file:intermediate=$inter,target=$target,seed=$seed"
    --workdir="$workdir")
  # One intermediate model per (setting, seed), shared by all nine targets: phase 1 runs once and
  # later targets find its COMPLETED marker and reuse its best checkpoint.
  if [[ "$inter" != none ]]; then
    launch+=(--config.intermediate_workdir="$root/intermediate/${inter}__seed${seed}")
  fi
  launch+=(-- "${extra[@]}")
  if stj_is_dry_run; then
    "${launch[@]}"  # prints its gcloud command
    planned+=("$name")
    continue
  fi
  ok=0
  for ((attempt = 0; attempt <= RETRIES; attempt++)); do
    stj_log "[$k/$n] $name: launching (attempt $((attempt + 1))/$((RETRIES + 1)))"
    rc=0
    "${launch[@]}" || rc=$?
    if stj_run_done "$workdir"; then
      ok=1
      break
    fi
    stj_log "[$k/$n] $name: not COMPLETED (launch exit status $rc)"
  done
  if ((ok)); then
    done_runs+=("$name")
  else
    failed+=("$name")
    if ((fail_fast)); then
      stj_log "--fail-fast: stopping"
      break
    fi
  fi
done

summary() {
  local label="$1"
  shift
  stj_log "$label: $#"
  local r
  for r in "$@"; do stj_log "  $r"; done
}
stj_log "=== sweep summary (RUNS_ROOT=$root)"
if stj_is_dry_run; then
  summary "would launch" "${planned[@]}"
fi
summary "done" "${done_runs[@]}"
summary "skipped (already COMPLETED)" "${skipped[@]}"
summary "failed" "${failed[@]}"
((${#failed[@]} == 0))
