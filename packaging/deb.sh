#!/usr/bin/env bash
# Builds build/rffmpeg_<version>_<arch>.deb with dpkg-deb from a staged tree
# (`make deb`). Debian's own tool, no packager to download: the build works
# offline and in CI as is, and it reproduces (same commit, same Go → same
# bytes: SOURCE_DATE_EPOCH is the commit's time, -trimpath, no build paths).
#
#   ARCH=arm64 make deb      # another architecture (amd64, arm64)
#   VERSION=1.2.3 make deb   # a release version (default: 0.0~git<date>.<commit>)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
. packaging/version.sh

ARCH=${ARCH:-$(go env GOARCH)}
case $ARCH in
  amd64 | arm64) ;;
  *) echo "deb: architecture $ARCH not supported (amd64, arm64)" >&2; exit 2 ;;
esac
MAINTAINER=${DEB_MAINTAINER:-rffmpeg developers <rffmpeg@example.org>}
out=build/rffmpeg_${VERSION}_${ARCH}.deb
stage=build/deb/rffmpeg_${VERSION}_${ARCH}
rm -rf "$stage" && mkdir -p "$stage/DEBIAN"
umask 022

echo "== rffmpeg $VERSION ($COMMIT) for linux/$ARCH"
CGO_ENABLED=0 GOOS=linux GOARCH=$ARCH go build -trimpath -buildvcs=false \
  -ldflags "-s -w -buildid= -X main.version=$VERSION -X main.commit=$COMMIT" \
  -o "$stage/usr/bin/rffmpeg" ./cmd/rffmpeg

# The symlinks live outside $PATH: the media server is pointed at them, and a
# system ffmpeg in /usr/bin stays what `ffmpeg` means in a shell.
install -d "$stage/usr/lib/rffmpeg"
ln -s ../../bin/rffmpeg "$stage/usr/lib/rffmpeg/ffmpeg"
ln -s ../../bin/rffmpeg "$stage/usr/lib/rffmpeg/ffprobe"

install -D -m 0644 packaging/rffmpeg.yml "$stage/etc/rffmpeg/rffmpeg.yml"

gen=build/deb/gen
go run ./packaging/gendoc -out "$gen" -version "$VERSION" -date "$SOURCE_DATE_EPOCH"
install -D -m 0644 "$gen/rffmpeg.1" "$stage/usr/share/man/man1/rffmpeg.1"
gzip -9n "$stage/usr/share/man/man1/rffmpeg.1"
install -D -m 0644 "$gen/rffmpeg.bash" "$stage/usr/share/bash-completion/completions/rffmpeg"
install -D -m 0644 "$gen/_rffmpeg" "$stage/usr/share/zsh/vendor-completions/_rffmpeg"
install -D -m 0644 "$gen/rffmpeg.fish" "$stage/usr/share/fish/vendor_completions.d/rffmpeg.fish"

doc=$stage/usr/share/doc/rffmpeg
install -d "$doc"
sed "s/@YEAR@/$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)/" packaging/copyright >"$doc/copyright"
install -m 0644 README.md docs/agent.md docs/doctor.md "$doc/"
{
  echo "rffmpeg ($VERSION) unstable; urgency=medium"
  echo
  echo "  * Built from commit ${COMMIT:-unknown}."
  echo
  echo " -- $MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} >"$doc/changelog"
gzip -9n "$doc/changelog"
install -D -m 0644 packaging/lintian-overrides "$stage/usr/share/lintian/overrides/rffmpeg"

install -D -m 0644 packaging/rffmpeg-serve@.service "$stage/lib/systemd/system/rffmpeg-serve@.service"

install -m 0755 packaging/postinst "$stage/DEBIAN/postinst"
install -m 0755 packaging/prerm "$stage/DEBIAN/prerm"
echo /etc/rffmpeg/rffmpeg.yml >"$stage/DEBIAN/conffiles"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s|@MAINTAINER@|$MAINTAINER|" \
  -e "s/@SIZE@/$(du -sk --exclude=DEBIAN "$stage" | cut -f1)/" packaging/control >"$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
  xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
echo "== $out"
dpkg-deb --info "$out" | sed -n '/Package:/,$p'
