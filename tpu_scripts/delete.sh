#!/usr/bin/env bash
# Delete the TPU VM, or the queued resource (which deletes its node too). Billing of a TPU VM only
# stops when it is deleted, so this is the last step of every session.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<'EOF2'
Usage: delete.sh [--tpu-name=..] [--zone=..] [--project=..] [--queued | --qr-name=..] [--yes]

Deletes the TPU VM TPU_NAME (`gcloud compute tpus tpu-vm delete`), or with QUEUED=1/--queued
the queued resource QR_NAME (default TPU_NAME-qr) together with its node
(`gcloud compute tpus queued-resources delete --force`).

  --yes, YES=1   do not ask for confirmation (needed when stdin is not a terminal)

Run data on gs:// workdirs is not touched; logs in ~/stilts-logs on the workers are lost.
DRY_RUN=1 prints the gcloud command instead of running it (and asks nothing).
EOF2
}

yes="${YES:-0}"
while (($#)); do
  if stj_parse_common "$1"; then shift; continue; fi
  case "$1" in
    --yes | -y) yes=1 ;;
    -h | --help) usage; exit 0 ;;
    *) stj_die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

stj_require TPU_NAME --tpu-name
stj_require ZONE --zone
stj_loc_flags

if stj_is_queued; then
  what="queued resource $(stj_qr_name) (and its TPU VM $TPU_NAME)"
  # --force: also delete the node, otherwise an ACTIVE queued resource cannot be deleted.
  cmd=(gcloud compute tpus queued-resources delete "$(stj_qr_name)" "${STJ_LOC[@]}" --force --quiet)
else
  what="TPU VM $TPU_NAME"
  cmd=(gcloud compute tpus tpu-vm delete "$TPU_NAME" "${STJ_LOC[@]}" --quiet)
fi

if ! stj_is_dry_run && [[ "$yes" != 1 ]]; then
  [[ -t 0 ]] || stj_die "refusing to delete $what without confirmation: stdin is not a terminal; pass --yes"
  read -r -p "Delete $what in $ZONE? [y/N] " answer
  case "$answer" in
    y | Y | yes | YES) ;;
    *) stj_log "not deleted"; exit 1 ;;
  esac
fi
stj_log "delete: $what"
stj_run "${cmd[@]}"
