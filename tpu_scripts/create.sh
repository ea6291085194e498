#!/usr/bin/env bash
# Create the TPU VM directly, or through a queued resource (waits in line for capacity instead of
# failing; the usual way to get spot / large slices). Either way the VM is named TPU_NAME, so the
# other scripts do not care how it was created.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<'EOF2'
Usage: create.sh [--tpu-name=..] [--zone=..] [--project=..] [--accelerator-type=..]
                 [--runtime-version=..] [--capacity=on-demand|spot|reserved|best-effort]
                 [--queued | --qr-name=..] [--valid-until-duration=..] [-- EXTRA_GCLOUD_FLAGS...]

Settings (env var / flag):
  TPU_NAME          --tpu-name=          name of the TPU VM (required)
  ZONE              --zone=              e.g. us-central2-b (v4), us-west4-a (v5e) (required)
  ACCELERATOR_TYPE  --accelerator-type=  e.g. v4-8, v4-32, v5litepod-8, v5p-64 (required)
  RUNTIME_VERSION   --runtime-version=   TPU VM image; default by family: v2/v3/v4
                                         tpu-ubuntu2204-base, v5e v2-alpha-tpuv5-lite,
                                         v5p v2-alpha-tpuv5, v6e v2-alpha-tpuv6e
  PROJECT           --project=           default: gcloud's configured project
  CAPACITY          --capacity=          on-demand (default) | spot | reserved | best-effort
                                         (best-effort exists only for queued resources and
                                         uses `gcloud alpha`)
  QUEUED=1          --queued             create a queued resource with --node-id=TPU_NAME
  QR_NAME           --qr-name=           queued resource name (default TPU_NAME-qr; implies
                                         --queued). Pass the same QUEUED/QR_NAME to status.sh
                                         and delete.sh.
  VALID_UNTIL       --valid-until-duration=  queued only: give up if not provisioned in time
                                         (e.g. 6h)
Anything after `--` is appended to the gcloud create command (e.g. --network=..., --labels=...).

A spot VM, or a queued resource's node, can be preempted at any time: delete it, create it
again, re-run setup.sh, then re-run sweep.sh (finished runs are skipped, the others resume).
DRY_RUN=1 prints the gcloud command instead of running it.
EOF2
}

capacity="${CAPACITY:-on-demand}"
valid_until="${VALID_UNTIL:-}"
extra=()
while (($#)); do
  if stj_parse_common "$1"; then shift; continue; fi
  case "$1" in
    --capacity=*) capacity="${1#*=}" ;;
    --spot | --reserved | --best-effort | --on-demand) capacity="${1#--}" ;;
    --valid-until-duration=*) valid_until="${1#*=}" ;;
    --capacity | --valid-until-duration) stj_die "use $1=VALUE (with '='), not '$1 VALUE'" ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra+=("$@"); break ;;
    *) stj_die "unknown argument '$1' (extra gcloud flags go after --; see --help)" ;;
  esac
  shift
done

stj_require TPU_NAME --tpu-name
stj_require ZONE --zone
stj_require ACCELERATOR_TYPE --accelerator-type
if [[ -z "${RUNTIME_VERSION:-}" ]]; then
  RUNTIME_VERSION="$(stj_default_runtime "$ACCELERATOR_TYPE")" ||
    stj_die "RUNTIME_VERSION is not set and there is no default for ACCELERATOR_TYPE=$ACCELERATOR_TYPE: export RUNTIME_VERSION=... or pass --runtime-version=..."
fi
stj_loc_flags

case "$capacity" in
  on-demand) cap_flags=() ;;
  spot) cap_flags=(--spot) ;;
  reserved) cap_flags=(--reserved) ;;
  best-effort)
    cap_flags=(--best-effort)
    stj_is_queued || stj_die "CAPACITY=best-effort exists only for queued resources: add --queued (or QUEUED=1)"
    ;;
  *) stj_die "CAPACITY/--capacity must be on-demand, spot, reserved or best-effort, got '$capacity'" ;;
esac

if stj_is_queued; then
  # --best-effort is only in the alpha surface of gcloud.
  gcloud_cmd=(gcloud)
  [[ "$capacity" == best-effort ]] && gcloud_cmd+=(alpha)
  cmd=("${gcloud_cmd[@]}" compute tpus queued-resources create "$(stj_qr_name)" "${STJ_LOC[@]}"
    --node-id="$TPU_NAME" --accelerator-type="$ACCELERATOR_TYPE" --runtime-version="$RUNTIME_VERSION"
    "${cap_flags[@]}")
  if [[ -n "$valid_until" ]]; then cmd+=(--valid-until-duration="$valid_until"); fi
  next="wait until status.sh --queued shows ACTIVE, then run setup.sh"
else
  [[ -z "$valid_until" ]] || stj_die "--valid-until-duration/VALID_UNTIL needs --queued"
  cmd=(gcloud compute tpus tpu-vm create "$TPU_NAME" "${STJ_LOC[@]}"
    --accelerator-type="$ACCELERATOR_TYPE" --version="$RUNTIME_VERSION" "${cap_flags[@]}")
  next="run setup.sh"
fi
cmd+=("${extra[@]}")

stj_log "create: $ACCELERATOR_TYPE ($capacity$(stj_is_queued && echo ", queued as $(stj_qr_name)")) named $TPU_NAME in $ZONE"
stj_run "${cmd[@]}"
stj_log "next: $next"
