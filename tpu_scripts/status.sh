#!/usr/bin/env bash
# Where things stand: the TPU VM / queued resource state, which sweep runs are done, and
# optionally the tail of the newest run log on worker 0.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<'EOF'
Usage: status.sh [--tpu-name=..] [--zone=..] [--project=..] [--queued | --qr-name=..]
                 [--runs-root=ROOT [--intermediates=..] [--targets=..] [--seeds=..]]
                 [--logs[=N]] [--no-tpu]

  TPU state      `gcloud compute tpus tpu-vm describe` (and `queued-resources describe` when
                 QUEUED=1/--queued; the queued resource is QR_NAME, default TPU_NAME-qr).
  Sweep runs     with RUNS_ROOT/--runs-root: one line per grid run, DONE (COMPLETED marker),
                 started (workdir exists) or pending, then counts. Same grid settings as sweep.sh.
  --logs[=N]     last N (default 30) lines of the newest ~/stilts-logs/*.log on worker 0
  --no-tpu       skip the TPU part (only the runs; TPU_NAME/ZONE not needed)

DRY_RUN=1 prints the gcloud commands instead of running them (gs:// runs then show as pending).
EOF
}

logs=0 show_tpu=1
while (($#)); do
  if stj_parse_common "$1" || stj_parse_grid "$1"; then shift; continue; fi
  case "$1" in
    --logs) logs=30 ;;
    --logs=*) logs="${1#*=}" ;;
    --no-tpu) show_tpu=0 ;;
    -h | --help) usage; exit 0 ;;
    *) stj_die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ "$logs" =~ ^[0-9]+$ ]] || stj_die "--logs=N needs a number, got '$logs'"

# Report lines go to stdout, except in DRY_RUN where stdout carries only the commands.
out() {
  if stj_is_dry_run; then printf '%s\n' "$*" >&2; else printf '%s\n' "$*"; fi
}

if ((show_tpu)); then
  stj_require TPU_NAME --tpu-name
  stj_require ZONE --zone
  stj_loc_flags
  if stj_is_queued; then
    out "queued resource $(stj_qr_name):"
    stj_run gcloud compute tpus queued-resources describe "$(stj_qr_name)" "${STJ_LOC[@]}" \
      --format='value(state.state)' || out "  (not found)"
  fi
  out "TPU VM $TPU_NAME:"
  stj_run gcloud compute tpus tpu-vm describe "$TPU_NAME" "${STJ_LOC[@]}" \
    --format='table(state,health,acceleratorType,runtimeVersion)' || out "  (not found, or not created yet)"
  if ((logs)); then
    out "newest log on worker 0:"
    stj_run gcloud compute tpus tpu-vm ssh "$TPU_NAME" "${STJ_LOC[@]}" --worker=0 \
      --command="tail -n $logs \"\$(ls -t ~/stilts-logs/*.log | head -n 1)\"" || true
  fi
fi

if [[ -n "${RUNS_ROOT:-}" ]]; then
  root="$(stj_runs_root)"
  stj_build_grid
  # For gs://, two listings instead of one request per run (the grid has 90+ runs).
  declare -A completed=() started=()
  if [[ "$root" == gs://* ]]; then
    if stj_is_dry_run; then
      stj_run gcloud storage ls "$root/*/COMPLETED"
      stj_run gcloud storage ls "$root/"
    else
      while read -r url; do
        [[ -n "$url" ]] || continue
        url="${url%/COMPLETED}"
        completed["${url##*/}"]=1
      done < <(gcloud storage ls "$root/*/COMPLETED" 2>/dev/null || true)
      while read -r url; do
        [[ -n "$url" ]] || continue
        url="${url%/}"
        started["${url##*/}"]=1
      done < <(gcloud storage ls "$root/" 2>/dev/null || true)
    fi
  fi
  n_done=0 n_started=0 n_pending=0
  out "runs under $root:"
  for triple in "${STJ_GRID[@]}"; do
    read -r inter target seed <<<"$triple"
    name="$(stj_run_name "$inter" "$target" "$seed")"
    if [[ "$root" == gs://* ]]; then
      is_done="${completed[$name]:-}" is_started="${started[$name]:-}"
    else
      is_done="" is_started=""
      [[ -f "$root/$name/COMPLETED" ]] && is_done=1
      [[ -d "$root/$name" ]] && is_started=1
    fi
    if [[ -n "$is_done" ]]; then
      state=DONE n_done=$((n_done + 1))
    elif [[ -n "$is_started" ]]; then
      state=started n_started=$((n_started + 1))
    else
      state=pending n_pending=$((n_pending + 1))
    fi
    out "$(printf '  %-8s %s' "$state" "$name")"
  done
  out "done: $n_done  started (unfinished): $n_started  pending: $n_pending  total: ${#STJ_GRID[@]}"
elif ((!show_tpu)); then
  stj_die "--no-tpu needs RUNS_ROOT/--runs-root"
fi
