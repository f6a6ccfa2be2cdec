#!/usr/bin/env bash
# Refresh the chart's copies of files owned elsewhere in the repo. Helm cannot read files outside
# a chart, so charts/reco-platform/files/ holds copies; tests/chart fails when they drift.
# It then re-renders the Kustomize base (manifests/render.sh), which embeds the same files.
# With --check, change nothing and exit 1 if a copy differs (for CI or a pre-commit hook).
set -euo pipefail
cd "$(dirname "$0")/.."

FILES_DIR=charts/reco-platform/files
SOURCES=(
  serving/serve_config.yaml
  monitoring/prometheus_rules.yaml
  monitoring/grafana_dashboard.json
)

status=0
for src in "${SOURCES[@]}"; do
  dst="$FILES_DIR/$(basename "$src")"
  if cmp -s "$src" "$dst"; then
    continue
  fi
  if [[ "${1:-}" == "--check" ]]; then
    echo "out of date: $dst (run scripts/sync_chart_files.sh)" >&2
    status=1
  else
    cp "$src" "$dst"
    echo "copied $src -> $dst"
  fi
done
# The Kustomize base embeds the same files: regenerate (or check) it when helm is installed.
if [[ -x .tools/bin/helm ]]; then
  if [[ "${1:-}" == "--check" ]]; then
    manifests/render.sh --check || status=1
  else
    manifests/render.sh
  fi
else
  echo "note: .tools/bin/helm missing (make tools); manifests/base not refreshed" >&2
fi
exit "$status"
