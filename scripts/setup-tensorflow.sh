#!/usr/bin/env bash
# Builds mnxc's `tensorflow` backend when a TensorFlow pip package can be had: an installed
# tensorflow / tensorflow-cpu, else the tensorflow-cpu wheel fetched by pip (no dependencies).
# Never fatal: without it mnxc runs on wasm / cpu, and says so.
set -uo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
  echo "setup-tensorflow: no $python; the tensorflow backend is skipped (mnxc uses wasm/cpu)" >&2
  exit 0
fi
if "$python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("tensorflow") is None)' 2>/dev/null; then
  node bin/mnxc.js setup tensorflow --python "$python" || echo "setup-tensorflow: build failed; mnxc uses wasm/cpu" >&2
  exit 0
fi
wheels="$(mktemp -d)"
trap 'rm -rf "$wheels"' EXIT
if "$python" -m pip download --quiet --no-deps "tensorflow-cpu==${MNXC_TENSORFLOW_VERSION:-2.21.0}" -d "$wheels" 2>/dev/null; then
  found=("$wheels"/*.whl)
  node bin/mnxc.js setup tensorflow --python "$python" --wheel "${found[0]}" || echo "setup-tensorflow: build failed; mnxc uses wasm/cpu" >&2
else
  echo "setup-tensorflow: pip found no tensorflow-cpu wheel; the tensorflow backend is skipped (mnxc uses wasm/cpu)" >&2
fi
exit 0
