#!/usr/bin/env bash
# The cross-check gallery: install the pinned libraries (tools/gallery/requirements.txt) into
# their own environment, .gallery-venv (not refasync's: CI does not need them), then run every
# adapter under tools/gallery/ and regenerate the tables of docs/crosscheck-gallery.md.
#
#     bash tools/gallery.sh            # about 2 GB of wheels the first time; a minute after
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${GALLERY_VENV:-.gallery-venv}
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -e . -r tools/gallery/requirements.txt
"$VENV/bin/python" tools/gallery/make_gallery.py
