#!/usr/bin/env bash
# Regenerates the Go code for every .proto file under proto/ into OUT
# (default proto/pb). Used by `make generate` and by the drift test, which
# generates into a temporary directory and compares.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/pb}
plugin=${PROTOC_GEN_GO:-$(go env GOPATH)/bin/protoc-gen-go}
pkg=github.com/peertape/peertape/proto/pb
cd "$here"
files=$(find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
maps=()
for f in $files; do maps+=("--go_opt=M$f=$pkg;pb"); done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
protoc --plugin=protoc-gen-go="$plugin" -I . --go_out="$tmp" "${maps[@]}" $files
mkdir -p "$out"
rm -f "$out"/*.pb.go
# protoc-gen-go writes under the import path; flatten into OUT.
find "$tmp" -name '*.pb.go' -exec mv {} "$out"/ \;
