#!/usr/bin/env sh
# Install the pinned @mysten/walrus-wasm peer from package-lock.json (idempotent, quiet).
here="$(dirname "$0")"
exec sh "$here/../npm_setup.sh" "$here"
