#!/usr/bin/env bash
# The GPU check in one command (issue #18, item 4): the population engine (TensorFlow and JAX),
# `automl train` with adam and phs-go, and ResBuilder and evolution searches (--budget 2m) on
# CIFAR-shaped synthetic data and on mnist5k, in at most 8 minutes on a GPU; writes
# benchmarks/results/gpu/check.{md,json} with images per second next to the CPU figures.
# Without a GPU it runs in a dry mode on the CPU (tiny sizes, tables in a temporary folder).
# The steps themselves are benchmarks/gpu_check.py; this script finds or installs what they need.
#
# Usage: bash benchmarks/gpu_check.sh [--dry | --cpu] [--out DIR] [--only STEPS] [--parallel N]
#                                     [--search-budget DURATION] [--keep-work] [--wheels DIR] [--no-install]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

usage() {
    cat <<'EOF'
Usage: bash benchmarks/gpu_check.sh [OPTIONS]

The GPU check in one command: runs every step on a GPU when one is visible (at most 8 minutes)
and writes benchmarks/results/gpu/check.{md,json}; without a GPU, the dry mode on the CPU.

  --dry                   tiny sizes on the CPU, tables in --out (default: a new temporary folder)
  --cpu                   full sizes on the CPU: the CPU figures the GPU table is compared with
                          (benchmarks/results/gpu/check_cpu.{md,json})
  --out DIR               folder of the tables
  --only STEPS            comma-separated steps (engine-tf, engine-jax, train-adam, train-phs-go,
                          resbuilder-cifar, resbuilder-mnist5k, evolution-cifar, evolution-mnist5k)
  --parallel N            searches run side by side (GPU: 4, else 1)
  --search-budget D       --budget of the searches (default 2m)
  --keep-work             keep the run folders and the synthetic data
  --wheels DIR            install these wheels first (offline; default: .whl/ in the repository, if any)
  --no-install            install nothing, run with what is there
  -h, --help              this help

Python: $PYTHON, else the repository's .venv, else python3. On a GPU machine where TensorFlow sees
no GPU and a package index is reachable, TensorFlow with CUDA is installed into its own virtual
environment ($GPU_CHECK_VENV, default ~/.cache/automl-gpu-check/venv) with the README's GPU line;
steps whose packages are missing are skipped and say which.
EOF
}

die() {
    echo "gpu_check.sh: $*" >&2
    exit 2
}

mode=auto
install=auto
wheels=""
pass=()
while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --dry | --cpu)
            [[ $mode == auto ]] || die "--dry and --cpu exclude each other"
            mode=${1#--}
            pass+=("$1") ;;
        --keep-work) pass+=("$1") ;;
        --out | --only | --parallel | --search-budget)
            [[ $# -ge 2 ]] || die "$1 needs a value"
            pass+=("$1" "$2")
            shift ;;
        --out=* | --only=* | --parallel=* | --search-budget=*) pass+=("$1") ;;
        --wheels)
            [[ $# -ge 2 ]] || die "$1 needs a value"
            wheels=$2
            shift ;;
        --wheels=*) wheels=${1#--wheels=} ;;
        --no-install) install=never ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

if [[ -n ${PYTHON:-} ]]; then
    PY=$PYTHON
elif [[ -x $ROOT/.venv/bin/python ]]; then
    PY=$ROOT/.venv/bin/python
else
    PY=python3
fi
command -v "$PY" >/dev/null || die "no Python at '$PY' (set PYTHON)"

gpu_visible() {
    command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'
}

if [[ $mode == auto ]]; then
    if gpu_visible; then
        mode=gpu
    else
        echo "gpu_check.sh: no GPU visible (nvidia-smi lists none): dry mode on the CPU"
        mode=dry
        pass+=(--dry)
    fi
fi

setup=""
if [[ $mode == gpu && $install == auto ]]; then
    started=$SECONDS
    # Offline first: a wheelhouse (the device machines reach no package index).
    if [[ -z $wheels && -d $ROOT/.whl ]] && compgen -G "$ROOT/.whl/*.whl" >/dev/null; then
        wheels=$ROOT/.whl
    fi
    if [[ -n $wheels ]]; then
        compgen -G "$wheels/*.whl" >/dev/null || die "--wheels $wheels: no .whl files there"
        site=${TMPDIR:-/tmp}/gpu_check_site
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
            "$wheels"/*.whl
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
        setup+="wheels from $wheels installed into $site. "
    fi
    tf_gpus=$("$PY" -c 'import os; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf; print(len(tf.config.list_physical_devices("GPU")))' 2>/dev/null || echo none)
    if [[ $tf_gpus == none || $tf_gpus == 0 ]]; then
        what=$([[ $tf_gpus == none ]] && echo "TensorFlow is not installed" || echo "TensorFlow sees no GPU")
        if timeout 30 "$PY" -m pip index versions --retries 0 --timeout 10 tensorflow >/dev/null 2>&1; then
            venv=${GPU_CHECK_VENV:-$HOME/.cache/automl-gpu-check/venv}
            echo "gpu_check.sh: $what for $PY: installing TensorFlow with CUDA into $venv (README, GPU)"
            [[ -x $venv/bin/python ]] || "$PY" -m venv "$venv"
            if ! "$venv/bin/python" -c 'import tensorflow as tf, sys
sys.exit(not tf.config.list_physical_devices("GPU"))' 2>/dev/null; then
                "$venv/bin/python" -m pip install -q "$ROOT[gpu]"
                # tensorflow-cpu and tensorflow write the same folder: keep the CUDA build only (README, GPU)
                tf_version=$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("tensorflow"))')
                "$venv/bin/python" -m pip uninstall -q -y tensorflow-cpu
                "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "tensorflow==$tf_version"
            fi
            PY=$venv/bin/python
            setup+="$what for the first Python: TensorFlow with CUDA from $venv. "
        else
            echo "gpu_check.sh: $what for $PY and no package index is reachable: the TensorFlow steps" \
                 "are skipped or run on the CPU (bring wheels with --wheels DIR)"
            setup+="$what and no package index was reachable: no TensorFlow on the GPU. "
        fi
    fi
    "$PY" -c 'import jax' 2>/dev/null || setup+="JAX is not installed (pip install \"jax[cuda12]\"): its step is skipped. "
    setup+="Setup took $((SECONDS - started)) s, outside the 8 minutes."
fi

export GPU_CHECK_SETUP="$setup"
exec "$PY" "$HERE/gpu_check.py" ${pass[@]+"${pass[@]}"}
