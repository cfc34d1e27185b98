#!/usr/bin/env bash
# Batched DeepSeek-OCR-2 on a CUDA GPU: builds the full-size random-weight checkpoint, then reads batches of 1, 8 and
# 32 different pages in bfloat16 (small mode, 1024x1024 pages, 256 tokens each) and writes the figures as JSON:
# time to first token, aggregate decode tokens/s, pages per minute and peak VRAM per batch size. Under 8 minutes
# on an H100/H200, the checkpoint build included.
#
# On a machine without the project's environment (the lent H200 has torch 2.11 and transformers 5.17 and cannot
# download), carry the pinned transformers and the pure-Python packages the bench imports as wheels in .whl/:
#   bench/gpu_batch.sh --fetch-wheels        # here, where pip can reach the registry
#   bench/gpu_batch.sh OUT_FOLDER            # there, from the repository's root
set -euo pipefail
WHEELS="transformers==5.24.0 huggingface_hub==2.4.0 tokenizers==0.23.3 httpx2==2.16.2 httpcore2==2.16.2
        truststore==0.10.5 flask==3.1.3 itsdangerous==2.2.0 blinker==1.9.0 marshmallow==4.4.0"
if [[ "${1:-}" == "--fetch-wheels" ]]; then
    # shellcheck disable=SC2086
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl $WHEELS
    exit
fi
out="${1:-${OUT:-/tmp}}"
if [[ -d .whl ]]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD"
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 470 python3 -m bench.deepseek_bench --checkpoint /tmp/deepseek-ocr2-random-full --device cuda \
    --dtype bfloat16 --modes small --pages 1024x1024 --tokens 256 --batch 1 8 32 --json "$out/gpu_batch.json"
cat "$out/gpu_batch.json"
