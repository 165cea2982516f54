#!/usr/bin/env bash
# Prints `size_of` of holdfast's per-connection structures, by building a
# throwaway binary against the holdfast library (in a temp dir; the main
# crate and its Cargo.lock are not touched). Prints nothing and exits 1 if the
# types moved or the build fails. Honours CARGO_TARGET_DIR (uses
# $CARGO_TARGET_DIR/bench-sizeof, default target/bench-sizeof).
#   scripts/bench/sizeof.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$root/$target ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src"
mio_req=$(sed -n 's/^mio *= *{ *version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -1)
cat > "$tmp/Cargo.toml" <<TOML
[package]
name = "holdfast-sizeof"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
holdfast = { path = "$root" }
mio = { version = "${mio_req:-1}", features = ["net"] }
TOML
cat > "$tmp/src/main.rs" <<'RS'
use holdfast::core::connection::{Connection, EventRef, HttpConn};
use holdfast::event::timer::TimerWheel;
use std::mem::size_of;
fn main() {
    println!("Connection<TcpStream> {}", size_of::<Connection<mio::net::TcpStream>>());
    println!("timer_entry {}", TimerWheel::<EventRef>::ENTRY_BYTES);
    println!("HttpConn {}", size_of::<HttpConn>());
}
RS
cp Cargo.lock "$tmp/Cargo.lock" 2>/dev/null || true
CARGO_TARGET_DIR=$target/bench-sizeof cargo run -q --manifest-path "$tmp/Cargo.toml" 2>"$tmp/err" || {
    sed -n 1,20p "$tmp/err" >&2
    exit 1
}
