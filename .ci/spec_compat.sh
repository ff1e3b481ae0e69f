#!/usr/bin/env bash
# Validate a bioimage.io model package under the bioimage.io versions our users run.
#
#   .ci/spec_compat.sh PACKAGE.zip
#
# Two isolated virtual environments are created under a temporary folder:
#   * "ilastik": bioimageio.core 0.10.2 with the bioimageio.spec 0.5.9.1 it pins (what
#     ilastik's tiktorch embeds): format validation and `test_model` (every weight format);
#   * "newest":  the newest bioimageio.spec 0.5.x (0.5.14.3 in November 2026): format
#     validation with file checks (hashes, test tensors, documentation).
# deepImageJ parses rdf.yaml with its own Java reader; it is not covered here.
#
# Exits 0 when every check passes, 1 when one fails, 2 on a usage or setup error.
# Environment:
#   PYTHON              interpreter used to create the venvs (default: python3)
#   SPEC_COMPAT_VENVS   reuse (or create) the venvs in this folder instead of a fresh
#                       temporary one (speeds up repeated runs; never deleted)
#   OLD_CORE_VERSION    default 0.10.2;   NEW_SPEC_VERSION  default 0.5.14.3
#   TORCH_VERSION       torch for test_model in the old-core venv (default 2.13.0, CPU)
set -euo pipefail

if [[ $# -ne 1 || ! -f "$1" ]]; then
    echo "usage: $0 PACKAGE.zip" >&2
    exit 2
fi
package=$(realpath "$1")
python=${PYTHON:-python3}
old_core=${OLD_CORE_VERSION:-0.10.2}
new_spec=${NEW_SPEC_VERSION:-0.5.14.3}
torch_version=${TORCH_VERSION:-2.13.0}

if [[ -n "${SPEC_COMPAT_VENVS:-}" ]]; then
    root=$SPEC_COMPAT_VENVS
    mkdir -p "$root"
else
    root=$(mktemp -d -t spec-compat-XXXXXX)
    trap 'rm -rf "$root"' EXIT
fi

make_venv() {  # make_venv NAME REQUIREMENT...
    local venv="$root/$1"
    shift
    if [[ ! -x "$venv/bin/python" || ! -f "$venv/.complete" ]]; then
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2
        "$venv/bin/python" -m pip check >&2
        touch "$venv/.complete"
    fi
}

echo "creating venvs under $root ..." >&2
# pydantic<2.14: pydantic 2.14 breaks spec releases up to 0.5.12 (see docs); torch and
# onnxruntime let test_model run the torchscript, state-dict and ONNX weights.
make_venv ilastik "bioimageio.core==$old_core" "pydantic<2.14" "torch==$torch_version" onnxruntime
make_venv newest "bioimageio.spec==$new_spec"

status=0

echo "== bioimageio.core $old_core (ilastik): validate + test_model" >&2
"$root/ilastik/bin/python" - "$package" <<'PY' || status=1
import sys
import bioimageio.core as core
import bioimageio.spec as spec

print(f"bioimageio.core {core.__version__}, bioimageio.spec {spec.__version__}", file=sys.stderr)
summary = core.test_model(sys.argv[1])
for detail in summary.details:
    print(f"  [{detail.status}] {detail.name}", file=sys.stderr)
    for error in detail.errors:
        print(f"      error at {'.'.join(map(str, error.loc))}: {error.msg}", file=sys.stderr)
print(f"  => {summary.status}", file=sys.stderr)
sys.exit(0 if summary.status == "passed" else 1)
PY

echo "== bioimageio.spec $new_spec (newest): validate format and files" >&2
"$root/newest/bin/python" - "$package" <<'PY' || status=1
import sys
import bioimageio.spec as spec

print(f"bioimageio.spec {spec.__version__}", file=sys.stderr)
descr = spec.load_description(sys.argv[1], perform_io_checks=True)
summary = descr.validation_summary
for detail in summary.details:
    print(f"  [{detail.status}] {detail.name}", file=sys.stderr)
    for error in detail.errors:
        print(f"      error at {'.'.join(map(str, error.loc))}: {error.msg}", file=sys.stderr)
print(f"  => {summary.status}", file=sys.stderr)
sys.exit(0 if summary.status in ("passed", "valid-format") else 1)
PY

if [[ $status -eq 0 ]]; then
    echo "spec compatibility: all checks passed for $package" >&2
else
    echo "spec compatibility: FAILED for $package" >&2
fi
exit $status
