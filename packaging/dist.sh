#!/usr/bin/env bash
# Release binaries (`make dist`): static rffmpeg for linux/amd64 and
# linux/arm64 in dist/, named rffmpeg-<version>-linux-<arch>, and SHA256SUMS
# over them (`cd dist && sha256sum -c SHA256SUMS`). Built as the package's
# binary is: CGO_ENABLED=0, -trimpath, the version and commit stamped in.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
. packaging/version.sh

rm -rf dist && mkdir dist
for arch in amd64 arm64; do
  name=rffmpeg-$VERSION-linux-$arch
  echo "== dist/$name"
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=false \
    -ldflags "-s -w -buildid= -X main.version=$VERSION -X main.commit=$COMMIT" \
    -o "dist/$name" ./cmd/rffmpeg
done
(cd dist && sha256sum rffmpeg-* >SHA256SUMS && cat SHA256SUMS)
