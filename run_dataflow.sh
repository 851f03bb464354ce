#!/usr/bin/env bash
# Submit the pipeline to Dataflow from this machine (needs gcloud auth application-default login):
#   ./run_dataflow.sh batch  [pipeline flags]   a bounded job (default 200 records, or --records N / --input gs://…)
#   ./run_dataflow.sh stream [pipeline flags]   a streaming job at --rate R records/s; returns once submitted
#   ./run_dataflow.sh check  [batch|stream] [pipeline flags]
#                                               build the whole job offline (--dry_run) and submit nothing
# Settings come from the environment (see docs/dataflow.md):
#   PROJECT REGION BUCKET OIC_URL OIC_USERNAME OIC_PASSWORD_SECRET [MAX_WORKERS=4] [SERVICE_ACCOUNT]
#   [DATASET=warehouse] [RATE=100]
#   with OIC_AUTH=oauth instead of OIC_USERNAME and OIC_PASSWORD_SECRET (docs/oic-auth.md):
#   OIC_TOKEN_URL OIC_CLIENT_ID OIC_SCOPE OIC_CLIENT_SECRET_SECRET
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-.venv/bin/python}
mode=${1:-}
shift || true
dry_run=()
if [ "$mode" = check ]; then
  dry_run=(--dry_run=True)
  mode=${1:-batch}
  shift || true
fi
case "$mode" in
  batch) mode_flags=() ;;
  stream) mode_flags=(--streaming --rate "${RATE:-100}" --no_wait_until_finish) ;;
  *) echo "usage: $0 batch|stream|check [batch|stream] [pipeline flags]" >&2; exit 2 ;;
esac

if [ "${OIC_AUTH:-basic}" = oauth ]; then
  required=(OIC_TOKEN_URL OIC_CLIENT_ID OIC_SCOPE OIC_CLIENT_SECRET_SECRET)
  auth_flags=(--oic_auth oauth --oic_token_url "${OIC_TOKEN_URL:-}" --oic_client_id "${OIC_CLIENT_ID:-}"
              --oic_scope "${OIC_SCOPE:-}" --oic_client_secret_secret "${OIC_CLIENT_SECRET_SECRET:-}")
else
  required=(OIC_USERNAME OIC_PASSWORD_SECRET)
  auth_flags=(--oic_username "${OIC_USERNAME:-}" --oic_password_secret "${OIC_PASSWORD_SECRET:-}")
fi
for name in PROJECT REGION BUCKET OIC_URL "${required[@]}"; do
  if [ -z "${!name:-}" ]; then
    echo "error: set $name (see docs/dataflow.md and docs/oic-auth.md)" >&2
    exit 2
  fi
done
# The password and client secret never go to Dataflow: only their Secret Manager references do. A local stack's CA
# (OIC_CA_BUNDLE from .local/stack.env) is not OIC's: pass --oic_ca_bundle explicitly for a private CA.
unset OIC_PASSWORD OIC_CLIENT_SECRET OIC_CA_BUNDLE BIGQUERY_EMULATOR_HOST BIGQUERY_EMULATOR_GRPC_HOST

dataset=${DATASET:-warehouse}
extra=()
if [ -n "${SERVICE_ACCOUNT:-}" ]; then extra+=(--service_account_email "$SERVICE_ACCOUNT"); fi

exec "$PYTHON" -m pipeline.run \
  --runner DataflowRunner \
  --project "$PROJECT" --region "$REGION" \
  --temp_location "gs://$BUCKET/tmp" --staging_location "gs://$BUCKET/staging" \
  --setup_file ./setup.py \
  --max_num_workers "${MAX_WORKERS:-4}" \
  --oic_url "$OIC_URL" "${auth_flags[@]}" \
  --oic_table "$PROJECT:$dataset.inventory_oic" --direct_table "$PROJECT:$dataset.inventory_direct" \
  --out "gs://$BUCKET/runs/$(date -u +%Y%m%dT%H%M%SZ)" \
  ${mode_flags[@]+"${mode_flags[@]}"} ${dry_run[@]+"${dry_run[@]}"} ${extra[@]+"${extra[@]}"} "$@"
