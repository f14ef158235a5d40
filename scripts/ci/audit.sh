#!/usr/bin/env bash
# Dependency audit with cargo-deny (policy in deny.toml): licenses, banned crates, sources.
# cargo-deny is installed from crates.io only if missing (`cargo install --locked`: about
# 25-30 minutes of compiling on 2 cores; cache ~/.cargo/bin in CI to pay it once).
# The advisories check (RustSec) fetches its database from github.com; it runs when that is
# reachable (AUDIT_ADVISORIES=auto, the default) or always (=1) or never (=0).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "audit: installing cargo-deny (minutes; cached in ~/.cargo/bin afterwards)"
    cargo install --locked cargo-deny
fi
cargo deny --all-features check licenses bans sources
case "${AUDIT_ADVISORIES:-auto}" in
    1) cargo deny --all-features check advisories ;;
    0) echo "audit: advisories skipped (AUDIT_ADVISORIES=0)" ;;
    *)
        if timeout 10 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
            cargo deny --all-features check advisories
        else
            echo "audit: advisories skipped: github.com (RustSec advisory-db) is not reachable"
        fi
        ;;
esac
