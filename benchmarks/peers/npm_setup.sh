#!/usr/bin/env sh
# Install a peer's pinned npm packages from its package-lock.json (idempotent, quiet).
# Usage: sh npm_setup.sh DIR
set -eu
cd "$1"
stamp=node_modules/.setup-stamp
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
	exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
cp package-lock.json "$stamp"
