#!/usr/bin/env bash
# Generates ui/src/api-types.gen.ts, the TypeScript types of the daemon's /v1 API, from the
# daemon's OpenAPI document (the one GET /v1/openapi.json serves), with openapi-typescript
# (pinned in package.json). No daemon runs: the document is printed by
# `cargo run -p dotsync-daemon --example openapi`.
#
#   bash ui/scripts/gen-types.sh     # or: npm run gen:types (in ui/)
#
# The generated file is committed; ui/test.sh fails when it differs from a fresh generation.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(cd .. && pwd)"

if [[ ! -x node_modules/.bin/openapi-typescript ]]; then
  echo "error: openapi-typescript is not installed; run \`npm ci\` in ui/" >&2
  exit 1
fi

locked=()
[[ "${CI:-}" == "true" ]] && locked=(--locked)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$root" && cargo run --quiet "${locked[@]}" -p dotsync-daemon --example openapi) >"$tmp/openapi.json"
node_modules/.bin/openapi-typescript "$tmp/openapi.json" --output "$tmp/api-types.gen.ts" >/dev/null
mv "$tmp/api-types.gen.ts" src/api-types.gen.ts
