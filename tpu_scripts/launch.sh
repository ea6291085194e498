#!/usr/bin/env bash
# Run `stilts-jax ARGS...` on every worker of the TPU VM (one SPMD program per host), detached by
# default so the run survives this terminal/ssh closing. A relaunch with the same --workdir
# resumes from the last checkpoint (the pipeline handles that), which is how preemptions are survived.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<'EOF'
Usage: launch.sh [LAUNCH_OPTIONS] STILTS_JAX_ARGS... [-- MORE_STILTS_JAX_ARGS...]

Runs `stilts-jax STILTS_JAX_ARGS...` on all workers of the TPU VM via
`gcloud compute tpus tpu-vm ssh TPU_NAME --worker=all --command=...`. Every argument that is not
a launch option below is passed through to stilts-jax unchanged; everything after `--` is passed
through even if it looks like a launch option. --workdir is required (it names the run and is
where a relaunch resumes from).

Example:
  launch.sh --config=configs/stilts.py:intermediate=mnli,target=xnli,seed=1 \
            --workdir=gs://my-bucket/runs/mnli__xnli__seed1 --config.train.lr=2e-5

Launch options (flags override env vars):
  TPU_NAME          --tpu-name=NAME        TPU VM name (required)
  ZONE              --zone=ZONE            e.g. us-central2-b (required)
  PROJECT           --project=PROJECT      default: gcloud's configured project
  ACCELERATOR_TYPE  --accelerator-type=T   e.g. v4-32; used to decide --distributed
  DISTRIBUTED       --distributed | --no-distributed
                    add stilts-jax's --distributed (jax.distributed.initialize()). Default
                    (auto): added unless ACCELERATOR_TYPE is a single-host type (suffix <= 8:
                    v4-8, v5litepod-8, v5p-8, v6e-8); when ACCELERATOR_TYPE is unknown it is
                    added, which is also correct on one host.
  ATTACH=1          --attach               stay attached: stream worker 0's log until the run
                                           ends and exit with its status (default: detach)
  RUN_NAME          --run-name=NAME        log name (default: basename of --workdir)
                    --env=KEY=VALUE        set an env var for the run (repeatable)
  FORWARD_ENV       names of local env vars copied to the workers when set (default:
                    "HF_HOME HF_DATASETS_CACHE HF_HUB_CACHE HF_HUB_OFFLINE HF_DATASETS_OFFLINE")
                    --worker=all|N         workers to run on (default all; N only for debugging)
                    --force                start even if another run is active on the workers

Logs: each worker appends to ~/stilts-logs/RUN_NAME.<hostname>.log. Fetch them with
  gcloud compute tpus tpu-vm scp "TPU_NAME:stilts-logs/RUN_NAME.*" ./logs/ --zone=ZONE --worker=all
or look at the newest one with `status.sh --logs`.

DRY_RUN=1 prints the gcloud command instead of running it.
EOF
}

attach="${ATTACH:-0}"
distributed="${DISTRIBUTED:-auto}"
run_name="${RUN_NAME:-}"
worker="all"
force=0
env_kv=()
args=()
while (($#)); do
  if stj_parse_common "$1"; then shift; continue; fi
  case "$1" in
    --attach) attach=1 ;;
    --detach) attach=0 ;;
    --distributed) distributed=yes ;;
    --no-distributed) distributed=no ;;
    --run-name=*) run_name="${1#*=}" ;;
    --worker=*) worker="${1#*=}" ;;
    --env=*) env_kv+=("${1#*=}") ;;
    --force) force=1 ;;
    --run-name | --worker | --env) stj_die "use $1=VALUE (with '='), not '$1 VALUE'" ;;
    -h | --help) usage; exit 0 ;;
    --) shift; args+=("$@"); break ;;
    *) args+=("$1") ;;
  esac
  shift
done

stj_require TPU_NAME --tpu-name
stj_require ZONE --zone
stj_loc_flags

# The workdir is what makes a relaunch resume instead of starting over, so insist on it.
workdir=""
for ((k = 0; k < ${#args[@]}; k++)); do
  case "${args[k]}" in
    --workdir=*) workdir="${args[k]#*=}" ;;
    --workdir) workdir="${args[k + 1]:-}" ;;
  esac
done
[[ -n "$workdir" ]] || stj_die "no --workdir=... among the stilts-jax arguments (it is where the run resumes from)"

if [[ -z "$run_name" ]]; then
  run_name="$(basename "${workdir%/}")"
  run_name="${run_name//[^A-Za-z0-9._-]/_}"
fi
[[ "$run_name" =~ ^[A-Za-z0-9._-]+$ ]] || stj_die "RUN_NAME/--run-name must match [A-Za-z0-9._-]+, got '$run_name'"

case "$distributed" in
  yes | 1 | true) add_distributed=1 ;;
  no | 0 | false) add_distributed=0 ;;
  auto)
    add_distributed=1
    if [[ -n "${ACCELERATOR_TYPE:-}" ]] && ! stj_is_multihost "$ACCELERATOR_TYPE"; then
      add_distributed=0
    fi
    ;;
  *) stj_die "DISTRIBUTED must be auto, yes or no, got '$distributed'" ;;
esac
if ((add_distributed)); then
  have=0
  for a in "${args[@]}"; do [[ "$a" == --distributed ]] && have=1; done
  ((have)) || args+=(--distributed)
fi

# Env for the run: forwarded locals that are set, then explicit --env (which win).
env_assign=()
for name in ${FORWARD_ENV-HF_HOME HF_DATASETS_CACHE HF_HUB_CACHE HF_HUB_OFFLINE HF_DATASETS_OFFLINE}; do
  if [[ -n "${!name:-}" ]]; then env_assign+=("$name=${!name}"); fi
done
for kv in "${env_kv[@]}"; do
  [[ "$kv" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || stj_die "--env expects KEY=VALUE, got '$kv'"
  env_assign+=("$kv")
done

# The remote command: worker_run.sh (shipped by setup.sh) does venv, logging, setsid and the
# "one run at a time" guard; each stilts-jax argument is quoted exactly once, here.
runner=(--run-name="$run_name")
if ((attach)); then runner+=(--attach); fi
if ((force)); then runner+=(--force); fi
remote="bash $STJ_REMOTE_CODE_DIR/tpu_scripts/worker_run.sh $(stj_quote "${runner[@]}") -- $(stj_quote "${args[@]}")"
if ((${#env_assign[@]})); then
  remote="env $(stj_quote "${env_assign[@]}") $remote"
fi

stj_log "launch: run $run_name on $TPU_NAME (worker=$worker, $([[ $attach == 1 ]] && echo attached || echo detached))"
stj_run gcloud compute tpus tpu-vm ssh "$TPU_NAME" "${STJ_LOC[@]}" --worker="$worker" --command="$remote"
