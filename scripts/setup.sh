#!/usr/bin/env bash
# Installs what Nimbus needs on a Debian machine: npm packages, and Debian packages via apt-get
# when run as root (otherwise prints the exact command to run). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=0
tests=0
for a in "$@"; do
  case "$a" in
    --quiet) quiet=1 ;;
    --tests) tests=1 ;;
    *) echo "setup: unknown option $a (use --quiet, --tests)" >&2; exit 2 ;;
  esac
done
say() { [ "$quiet" = 1 ] || echo "setup: $*"; }

# Debian packages the stack and its tests use. scripts/debian-packages.txt lists one per line.
# A second word `test` marks packages only the test suite needs (--tests).
mapfile -t wanted < <(grep -v '^\s*#' scripts/debian-packages.txt | awk -v t="$tests" 'NF && ($2 != "test" || t == 1) {print $1}')
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/nimbus-apt.log 2>&1; then
      apt-get update -qq >/tmp/nimbus-apt.log 2>&1
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/nimbus-apt.log 2>&1 || {
        echo "setup: apt-get install failed; see /tmp/nimbus-apt.log" >&2
        exit 1
      }
    fi
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# npm packages (Bun itself comes from npm as a devDependency).
if [ ! -x node_modules/.bin/bun ] || [ package.json -nt node_modules/.package-lock.json ] || { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  say "installing npm packages"
  npm install --no-audit --no-fund --loglevel=error >/tmp/nimbus-npm.log 2>&1 || {
    echo "setup: npm install failed; see /tmp/nimbus-npm.log" >&2
    exit 1
  }
fi
# Test-only npm packages (chdb's ClickHouse engine, ~550 MB) in their own directory, so `npm start` never
# fetches them and `npm install` never prunes them: scripts/test-deps/package.json.
if [ "$tests" = 1 ] && { [ ! -f .test-deps/node_modules/.package-lock.json ] || [ scripts/test-deps/package.json -nt .test-deps/node_modules/.package-lock.json ]; }; then
  say "installing test-only npm packages (chdb)"
  mkdir -p .test-deps
  cp scripts/test-deps/package.json .test-deps/package.json
  (cd .test-deps && npm install --no-audit --no-fund --no-package-lock --loglevel=error) >/tmp/nimbus-npm-test.log 2>&1 || {
    echo "setup: npm install of the test-only packages failed; see /tmp/nimbus-npm-test.log" >&2
    exit 1
  }
fi
# The dashboard (web/), served by the control plane at /: built with Bun's bundler in milliseconds.
node_modules/.bin/bun run web/build.ts --quiet || {
  echo "setup: the dashboard build failed (bun run web/build.ts)" >&2
  exit 1
}
say "ready"
