#!/usr/bin/env bash
# Install the cluster prerequisites of the platform, at the versions pinned in versions.env:
#   namespaces (restricted Pod Security Standard on "reco"), the KubeRay operator,
#   Kubeflow Pipelines (standalone), and with --with-milvus a Milvus cluster in namespace milvus.
# Needs kubectl and helm (v3.14+ or v4) pointed at the target cluster, and network access to the
# chart repositories and GitHub. Safe to re-run: helm upgrade --install, kubectl apply.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

with_milvus=false
for arg in "$@"; do
  case "$arg" in
    --with-milvus) with_milvus=true ;;
    *) echo "usage: $0 [--with-milvus]" >&2; exit 2 ;;
  esac
done

kubectl apply -f "$here/namespace.yaml"

helm repo add kuberay "$KUBERAY_HELM_REPO" --force-update
helm upgrade --install kuberay-operator kuberay/kuberay-operator \
  --namespace kuberay-system --version "$KUBERAY_OPERATOR_VERSION" --wait

kubectl apply -k "$here/kfp/cluster-scoped"
kubectl wait --for condition=established --timeout=120s crd/applications.app.k8s.io
kubectl apply -k "$here/kfp/platform"

if $with_milvus; then
  helm repo add zilliztech "$MILVUS_HELM_REPO" --force-update
  helm upgrade --install milvus zilliztech/milvus \
    --namespace milvus --create-namespace --version "$MILVUS_CHART_VERSION" \
    -f "$here/milvus-values.yaml"
  echo "Milvus: set milvus.uri=http://milvus.milvus.svc.cluster.local:19530 for reco-platform"
fi

echo "prerequisites installed: KubeRay $KUBERAY_OPERATOR_VERSION, KFP $KFP_VERSION$($with_milvus && echo ", Milvus chart $MILVUS_CHART_VERSION")"
