#!/usr/bin/env bash
# Runs ON EACH TPU WORKER (launch.sh invokes it over `gcloud ... ssh --worker=all`); not meant to be
# run from your workstation. Starts `stilts-jax ARGS...` in the venv, detached from the ssh session,
# logging to ~/stilts-logs/<run>.<hostname>.log, and optionally follows it until it exits.
#
# Why a worker-side script instead of an inline ssh command: the stilts-jax arguments are passed
# as plain positional parameters, so they are shell-quoted exactly once (by launch.sh) no matter
# what they contain (`:`, `,`, `=`, spaces, quotes).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: worker_run.sh --run-name=NAME [--attach] [--force] -- STILTS_JAX_ARGS...

Runs on a TPU worker (launch.sh calls it on every worker). Starts `stilts-jax STILTS_JAX_ARGS...`
under setsid/nohup so it survives the ssh session, appending to
  ~/stilts-logs/NAME.<hostname>.log   (exit status in NAME.<hostname>.exit)

  --run-name=NAME  log/run name ([A-Za-z0-9._-]+)
  --attach         follow the log (worker 0 prints it, the others wait silently) until the run
                   exits, then exit with its status. If the ssh session drops, the run goes on.
  --force          start even if ~/stilts-logs/active names another live run
  -h, --help       this help

If NAME is already running here (e.g. a relaunch after the ssh session dropped), it is not
started twice: --attach re-attaches to it, otherwise this exits 0.
Env: STILTS_VENV (default ~/stilts-venv), STILTS_LOG_DIR (default ~/stilts-logs),
     STILTS_WORKER_ID (default: from the GCE metadata server), STILTS_STARTUP_WAIT (seconds, 5).
EOF
}

die() {
  printf 'worker_run.sh: error: %s\n' "$*" >&2
  exit 2
}

run_name="" attach=0 force=0
while (($#)); do
  case "$1" in
    --run-name=*) run_name="${1#*=}" ;;
    --attach) attach=1 ;;
    --force) force=1 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (stilts-jax arguments go after --)" ;;
  esac
  shift
done
(($#)) || die "no stilts-jax arguments after --"
[[ "$run_name" =~ ^[A-Za-z0-9._-]+$ ]] || die "--run-name must match [A-Za-z0-9._-]+, got '$run_name'"

code_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${STILTS_VENV:-$HOME/stilts-venv}"
log_dir="${STILTS_LOG_DIR:-$HOME/stilts-logs}"
host="$(hostname)"
log="$log_dir/$run_name.$host.log"
exit_file="$log_dir/$run_name.$host.exit"
# One TPU slice runs one job at a time (a second process cannot open the TPU), so the active run
# is recorded as "PID RUN_NAME" to refuse accidental double launches with a clear message.
active="$log_dir/active"
mkdir -p "$log_dir"

# Is PID alive and really our run (not a recycled pid)?
is_our_run() {
  local pid="$1" name="$2"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$name"
}

# Worker 0 prints the followed log; the others stay quiet so `--worker=all` output is not N copies.
is_printing_worker() {
  local id="${STILTS_WORKER_ID:-}"
  if [[ -z "$id" ]] && command -v curl >/dev/null; then
    id="$(curl -sf -m 2 -H 'Metadata-Flavor: Google' \
      http://metadata.google.internal/computeMetadata/v1/instance/attributes/agent-worker-number \
      2>/dev/null || true)"
  fi
  [[ -z "$id" || "$id" == 0 ]]
}

# Follow run PID until it exits, printing the log from byte OFFSET; exit with the run's status.
follow() {
  local pid="$1" offset="$2" rc
  if [[ ! "$pid" =~ ^[1-9][0-9]*$ ]] || ! kill -0 "$pid" 2>/dev/null; then
    # Already finished (or never registered): just show what it wrote.
    if is_printing_worker; then tail -c "+$((offset + 1))" "$log" || true; fi
  elif is_printing_worker; then
    # --pid: tail exits once the run does (after printing what is left).
    tail -c "+$((offset + 1))" -F --pid="$pid" "$log" 2>/dev/null || true
  else
    while kill -0 "$pid" 2>/dev/null; do sleep 5; done
  fi
  if [[ -f "$exit_file" ]]; then
    rc="$(<"$exit_file")"
  else
    printf 'worker_run.sh: %s: run %s ended without an exit status (killed or preempted?)\n' \
      "$host" "$run_name" >&2
    rc=1
  fi
  exit "$rc"
}

active_pid="" active_run=""
if [[ -f "$active" ]]; then
  read -r active_pid active_run <"$active" || true
fi
if [[ -n "$active_pid" ]] && is_our_run "$active_pid" "${active_run:-?}"; then
  if [[ "$active_run" == "$run_name" ]]; then
    printf '%s: run %s is already running (pid %s), not starting it twice\n' "$host" "$run_name" "$active_pid" >&2
    if ((attach)); then follow "$active_pid" "$(stat -c %s "$log" 2>/dev/null || echo 0)"; fi
    exit 0
  elif ((!force)); then
    printf 'worker_run.sh: error: %s: run %s (pid %s) is still active; wait for it, or pass --force\n' \
      "$host" "$active_run" "$active_pid" >&2
    exit 3
  fi
fi

[[ -f "$venv/bin/activate" ]] || die "no virtualenv at $venv on $host: run tpu_scripts/setup.sh first"
# shellcheck source=/dev/null
source "$venv/bin/activate"
command -v stilts-jax >/dev/null || die "stilts-jax is not installed in $venv on $host: run setup.sh"
cd "$code_dir"

rm -f "$exit_file"
touch "$log"
offset="$(stat -c %s "$log")"
printf '=== %s start on %s: stilts-jax %s\n' "$(date -u +%FT%TZ)" "$host" "$(printf '%q ' "$@")" >>"$log"

# setsid + nohup: the run gets its own session, so closing the ssh connection (SIGHUP) does not
# kill it. The inner shell records "PID NAME" in $active and the exit status next to the log.
# shellcheck disable=SC2016  # $1.. are expanded by the inner bash, on purpose
setsid nohup bash -c '
  echo "$$ $1" >"$2"
  log="$3" exit_file="$4"
  shift 4
  rc=0
  "$@" >>"$log" 2>&1 || rc=$?
  echo "$rc" >"$exit_file"
  printf "=== %s exit %s\n" "$(date -u +%FT%TZ)" "$rc" >>"$log"
  exit "$rc"
' _ "$run_name" "$active" "$log" "$exit_file" stilts-jax "$@" </dev/null >/dev/null 2>&1 &

# Wait for the inner shell to register itself (or to have already finished).
pid=""
for _ in $(seq 100); do
  if [[ -f "$active" ]]; then
    read -r pid name <"$active" || true
    [[ "${name:-}" == "$run_name" ]] && break
  fi
  [[ -f "$exit_file" ]] && break
  pid=""
  sleep 0.1
done

if ((attach)); then
  follow "$pid" "$offset"
fi

# Detached: give it a few seconds so instant failures (bad flag, missing venv deps) are reported
# now rather than discovered later in the log.
for _ in $(seq "${STILTS_STARTUP_WAIT:-5}"); do
  [[ -f "$exit_file" ]] && break
  sleep 1
done
if [[ -f "$exit_file" ]]; then
  rc="$(<"$exit_file")"
  printf 'worker_run.sh: %s: run %s exited at once with status %s; log tail:\n' "$host" "$run_name" "$rc" >&2
  tail -n 20 "$log" >&2
  exit "$rc"
fi
printf '%s: started run %s (pid %s); log: %s\n' "$host" "$run_name" "${pid:-?}" "$log"
