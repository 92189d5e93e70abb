#!/usr/bin/env sh
# Install the pinned @mysten/walrus peer from package-lock.json (idempotent, quiet).
set -eu
cd "$(dirname "$0")"
stamp=node_modules/.setup-stamp
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
	exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
cp package-lock.json "$stamp"
