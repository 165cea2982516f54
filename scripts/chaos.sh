#!/usr/bin/env bash
# The chaos client for its full length: two rounds of SECS seconds (default
# 120) of resets, half-closes, one-byte reads, abandoned and never-reading
# clients against one server on 127.0.0.1; then checks that descriptors are
# back to the baseline and RSS did not grow between the rounds.
#
#   scripts/chaos.sh [SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
HOLDFAST_CHAOS_SECS=${1:-120} cargo test --release --test chaos -- --nocapture
