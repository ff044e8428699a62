# Sourced by deb.sh and dist.sh: VERSION, COMMIT and SOURCE_DATE_EPOCH from
# the environment, else from git. A tree with uncommitted changes says so in
# its version, so such a build is never taken for the commit's.
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
if [ -z "${VERSION:-}" ]; then
  # Debian versions start with a digit; ~ sorts before any release.
  VERSION=$(git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//; s/-/+git/; s/-g/./' || true)
  if [ -z "$VERSION" ]; then
    VERSION=0.0~git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d).$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  fi
  if [ -n "$COMMIT" ] && ! git diff --quiet HEAD 2>/dev/null; then
    VERSION=$VERSION+dirty
  fi
fi
