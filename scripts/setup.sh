#!/usr/bin/env bash
# Create (or reuse) the project-local virtualenv and install rag-dialogue into it.
# A second run only re-installs when pyproject.toml, the no-deps pins or this
# script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${RAG_DIALOGUE_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
stamp="$VENV/.installed-$(cat pyproject.toml requirements-nodeps.txt scripts/setup.sh | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    "$VENV/bin/pip" install -q --upgrade pip
    # Pinned first: an open torch requirement would pull a multi-GB CUDA build.
    "$VENV/bin/pip" install -q torch==2.13.0
    # The ray extra too, so its tests run in CI rather than being skipped.
    "$VENV/bin/pip" install -q -e '.[test,ray]'
    # Last, so pip's dependency check does not report ParlAI's stale pins.
    "$VENV/bin/pip" install -q --no-deps -r requirements-nodeps.txt
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
