#!/usr/bin/env bash
# The web app's tests, run by scripts/test (and so by CI):
#   1. npm ci, when node_modules is missing;
#   2. the committed src/api-types.gen.ts is what openapi-typescript generates from the daemon's
#      OpenAPI document (scripts/gen-types.sh);
#   3. the committed build in crates/dotsync-daemon/ui-dist/ is what the sources build to
#      (the daemon embeds it, and `cargo build` must work without Node.js);
#   4. the unit tests (vitest);
#   5. the browser tests: Debian's Chromium driven by playwright-core against real daemons
#      (target/debug/dotsync, built first) and a real git remote; they refresh
#      docs/screenshots/ only with UPDATE_SCREENSHOTS=1 (a plain run leaves the work tree clean).
#
#   bash ui/test.sh            # everything
#   SKIP_E2E=1 bash ui/test.sh # without the browser tests
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root="$(cd .. && pwd)"

step() { printf '\n==> ui: %s\n' "$*" >&2; }

if [[ ! -d node_modules ]]; then
  step "npm ci"
  npm ci --no-audit --no-fund
fi

step "the committed API types (src/api-types.gen.ts) are generated from the daemon's OpenAPI document"
bash scripts/gen-types.sh
if ! git -C "$root" diff --exit-code --stat -- ui/src/api-types.gen.ts \
  || [[ -n "$(git -C "$root" ls-files --others --exclude-standard -- ui/src/api-types.gen.ts)" ]]; then
  echo "error: ui/src/api-types.gen.ts differs from what the daemon's OpenAPI document generates;" \
    "run \`npm run gen:types\` in ui/ and commit ui/src/api-types.gen.ts" >&2
  exit 1
fi

step "the committed build (crates/dotsync-daemon/ui-dist) is up to date"
npm run --silent build
# Untracked files count as a difference too: the daemon embeds exactly what is committed.
if ! git -C "$root" diff --exit-code --stat -- crates/dotsync-daemon/ui-dist \
  || [[ -n "$(git -C "$root" ls-files --others --exclude-standard -- crates/dotsync-daemon/ui-dist)" ]]; then
  echo "error: crates/dotsync-daemon/ui-dist differs from what ui/ builds to;" \
    "run \`npm run build\` in ui/ and commit crates/dotsync-daemon/ui-dist" >&2
  exit 1
fi

step "unit tests (vitest)"
npx vitest run

if [[ -n "${SKIP_E2E:-}" ]]; then
  step "browser tests skipped (SKIP_E2E is set)"
  exit 0
fi

if [[ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
  echo "error: the browser tests need Chromium at ${CHROMIUM:-/usr/bin/chromium};" \
    "install it with \`apt-get install chromium\` (or set SKIP_E2E=1)" >&2
  exit 1
fi

step "cargo build -p dotsync (the daemon the browser tests run)"
(cd "$root" && cargo build -p dotsync)

step "browser tests (playwright-core + Chromium)"
npx vitest run --config vitest.e2e.config.ts
