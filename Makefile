# rffmpeg — see README.md.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
# Where the ffmpeg/ffprobe symlinks go (point the media server at $(SHIMDIR)/ffmpeg).
SHIMDIR ?= $(BINDIR)
GO      ?= go

.PHONY: build install uninstall test demo bench bench-scale screenshots clean

# The commit from git, as the packages record it (not Go's VCS stamping,
# which fails a build where git refuses the tree, e.g. another user's clone).
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.commit=$(COMMIT)" -o bin/rffmpeg ./cmd/rffmpeg

install: build
	install -D -m 0755 bin/rffmpeg $(DESTDIR)$(BINDIR)/rffmpeg
	install -d $(DESTDIR)$(SHIMDIR)
	ln -sf $(BINDIR)/rffmpeg $(DESTDIR)$(SHIMDIR)/ffmpeg
	ln -sf $(BINDIR)/rffmpeg $(DESTDIR)$(SHIMDIR)/ffprobe

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/rffmpeg $(DESTDIR)$(SHIMDIR)/ffmpeg $(DESTDIR)$(SHIMDIR)/ffprobe

# Everything: installs what the tests need (apt, as root), starts PostgreSQL,
# runs vet and every test against real sshd, ffmpeg, SQLite and PostgreSQL.
test:
	bash scripts/test.sh

# A real transcode on a loopback transcode host through the ffmpeg symlink.
demo:
	bash scripts/demo.sh

screenshots:
	bash scripts/screenshots.sh

bench:
	bash scripts/bench.sh

# Many frontends on one PostgreSQL (README "Many frontends"): 5 frontend
# processes, 100 localhost hosts, 1,000 held jobs, a SIGKILLed frontend and
# a restart under load, then SQLite with one frontend. As root it runs a
# private cluster of the installed PostgreSQL (restarting it disturbs no one);
# BENCH_SCALE_ARGS='-pg shared' uses the server RFFMPEG_TEST_PG_HOST/PORT/USER/PASS
# name instead (default: the test role on 127.0.0.1 that make test creates).
bench-scale: build
	$(GO) run ./scripts/bench-scale -pg private -binary $(CURDIR)/bin/rffmpeg $(BENCH_SCALE_ARGS)

clean:
	rm -rf bin

# A Debian package, build/rffmpeg_<version>_<arch>.deb (ARCH=arm64 for
# another architecture, VERSION=… for a release), and release binaries for
# amd64 and arm64 with SHA256SUMS in dist/. See packaging/.
.PHONY: deb dist
deb:
	bash packaging/deb.sh

dist:
	bash packaging/dist.sh
