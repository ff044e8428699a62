package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, text string) string {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The Debian package's unit, as shipped.
const debianUnit = `[Unit]
Description = Jellyfin Media Server
After = network-online.target

[Service]
Type = simple
EnvironmentFile = /etc/default/jellyfin
User = jellyfin
ExecStart = /usr/bin/jellyfin $JELLYFIN_WEB_OPT $JELLYFIN_FFMPEG_OPT $JELLYFIN_SERVICE_OPT $JELLYFIN_NOWEBAPP_OPT $JELLYFIN_ADDITIONAL_OPTS
Restart = on-failure

[Install]
WantedBy = multi-user.target
`

func TestDiscoverJellyfin(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string // relative path → content ("{dir}" replaced)
		want     string
		source   string // a part of the source
		lastUsed string
		found    bool
	}{
		{name: "debian unit and /etc/default", found: true,
			files: map[string]string{"lib/jellyfin.service": strings.ReplaceAll(debianUnit, "/etc/default/jellyfin", "{dir}/default"),
				"default": "# comment\nJELLYFIN_FFMPEG_OPT=\"--ffmpeg=/usr/lib/rffmpeg/ffmpeg\"\nJELLYFIN_WEB_OPT=\"--webdir=/usr/share/jellyfin/web\"\n"},
			want: "/usr/lib/rffmpeg/ffmpeg", source: "ExecStart"},
		{name: "a drop-in replaces ExecStart", found: true,
			files: map[string]string{"lib/jellyfin.service": strings.ReplaceAll(debianUnit, "/etc/default/jellyfin", "{dir}/default"),
				"default":                              "JELLYFIN_FFMPEG_OPT=\"--ffmpeg=/usr/lib/jellyfin-ffmpeg/ffmpeg\"\n",
				"etc/jellyfin.service.d/override.conf": "[Service]\nExecStart =\nExecStart = /usr/bin/jellyfin --ffmpeg /opt/rffmpeg/ffmpeg\n"},
			want: "/opt/rffmpeg/ffmpeg", source: "override.conf"},
		{name: "JELLYFIN_FFMPEG in the unit's environment", found: true,
			files: map[string]string{"lib/jellyfin.service": "[Service]\nExecStart=/usr/bin/jellyfin\n",
				"etc/jellyfin.service.d/env.conf": "[Service]\nEnvironment=\"JELLYFIN_FFMPEG=/srv/rffmpeg/ffmpeg\" \"OTHER=1\"\n"},
			want: "/srv/rffmpeg/ffmpeg", source: "JELLYFIN_FFMPEG"},
		{name: "--ffmpeg wins over JELLYFIN_FFMPEG", found: true,
			files: map[string]string{"lib/jellyfin.service": "[Service]\nEnvironment=JELLYFIN_FFMPEG=/env/ffmpeg\nExecStart=/usr/bin/jellyfin --ffmpeg=/arg/ffmpeg\n"},
			want:  "/arg/ffmpeg", source: "ExecStart"},
		{name: "only encoding.xml", found: true,
			files: map[string]string{"encoding.xml": "<?xml version=\"1.0\"?>\n<EncodingOptions>\n  <EncoderAppPath>/usr/lib/rffmpeg/ffmpeg</EncoderAppPath>\n  <EncoderAppPathDisplay>/usr/lib/jellyfin-ffmpeg/ffmpeg</EncoderAppPathDisplay>\n</EncodingOptions>\n"},
			want:  "/usr/lib/rffmpeg/ffmpeg", source: "EncoderAppPath", lastUsed: "/usr/lib/jellyfin-ffmpeg/ffmpeg"},
		{name: "nothing installed", files: map[string]string{}, found: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for rel, text := range tt.files {
				write(t, filepath.Join(dir, rel), strings.ReplaceAll(text, "{dir}", dir))
			}
			f := JellyfinFiles{Unit: "jellyfin",
				Units:       []string{filepath.Join(dir, "lib/jellyfin.service"), filepath.Join(dir, "etc/jellyfin.service.d/*.conf")},
				Defaults:    filepath.Join(dir, "default"),
				EncodingXML: []string{filepath.Join(dir, "encoding.xml")}}
			got := discoverJellyfin(context.Background(), f)
			if got.Found != tt.found || got.Path != tt.want || !strings.Contains(got.Source, tt.source) || got.LastUsed != tt.lastUsed {
				t.Errorf("got found=%v path=%q source=%q last=%q, want found=%v path=%q source~%q last=%q",
					got.Found, got.Path, got.Source, got.LastUsed, tt.found, tt.want, tt.source, tt.lastUsed)
			}
		})
	}
}

// systemctl cat's output (files joined, each under a "# /path" header) is
// read the same way as the files.
func TestDiscoverJellyfinSystemctl(t *testing.T) {
	dir := t.TempDir()
	out := write(t, filepath.Join(dir, "cat.txt"), "# /lib/systemd/system/jellyfin.service\n"+
		strings.ReplaceAll(debianUnit, "/etc/default/jellyfin", filepath.Join(dir, "default"))+
		"\n# /etc/systemd/system/jellyfin.service.d/rffmpeg.conf\n[Service]\nEnvironment=JELLYFIN_FFMPEG_OPT=--ffmpeg=/ignored\n")
	write(t, filepath.Join(dir, "default"), "JELLYFIN_FFMPEG_OPT=\"--ffmpeg=/usr/lib/rffmpeg/ffmpeg\"\nTMPDIR=/srv/shared/tmp\n")
	sc := write(t, filepath.Join(dir, "systemctl"), "#!/bin/sh\n[ \"$1 $2 $3\" = \"cat --no-pager jellyfin\" ] || exit 1\ncat "+out+"\n")
	os.Chmod(sc, 0o755)
	got := discoverJellyfin(context.Background(), JellyfinFiles{Systemctl: sc, Unit: "jellyfin"})
	// The EnvironmentFile's value is used (Environment= only fills gaps).
	if got.Path != "/usr/lib/rffmpeg/ffmpeg" || !strings.Contains(got.Source, "/lib/systemd/system/jellyfin.service") {
		t.Errorf("got %q from %q, want /usr/lib/rffmpeg/ffmpeg from the unit file", got.Path, got.Source)
	}
	if got.TMPDIR != "/srv/shared/tmp" {
		t.Errorf("TMPDIR %q, want /srv/shared/tmp (Jellyfin's, for $TMPDIR/jellyfin)", got.TMPDIR)
	}
}

func TestJellyfinChecks(t *testing.T) {
	dir := t.TempDir()
	exe := write(t, filepath.Join(dir, "bin/rffmpeg"), "#!/bin/sh\n")
	other := write(t, filepath.Join(dir, "other/ffmpeg"), "#!/bin/sh\n")
	link := func(target, name string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := link(exe, "good/ffmpeg")
	link(exe, "good/ffprobe")
	noProbe := link(exe, "noprobe/ffmpeg")
	badName := link(exe, "badname/rffmpeg")
	link(exe, "badname/ffprobe")
	tests := []struct {
		name, path string
		want       map[string]Status
	}{
		{"both symlinks", good, map[string]Status{"ffmpeg is rffmpeg": OK, "ffprobe is rffmpeg": OK}},
		{"no ffprobe beside it", noProbe, map[string]Status{"ffmpeg is rffmpeg": OK, "ffprobe is rffmpeg": Fail}},
		{"the admin name", badName, map[string]Status{"ffmpeg is rffmpeg": Fail}},
		{"another ffmpeg", other, map[string]Status{"ffmpeg is rffmpeg": Fail, "ffprobe is rffmpeg": Fail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := write(t, filepath.Join(t.TempDir(), "default"), "JELLYFIN_FFMPEG_OPT=--ffmpeg="+tt.path+"\n")
			unit := write(t, filepath.Join(t.TempDir(), "jellyfin.service"), strings.ReplaceAll(debianUnit, "/etc/default/jellyfin", env))
			r := Report{Checks: jellyfinChecks(context.Background(), JellyfinFiles{Units: []string{unit}}, exe)}
			for name, want := range tt.want {
				got, ok := r.Find(SectionJellyfin, name, "")
				if !ok || got.Status != want {
					t.Errorf("%s: got %v %q, want %v", name, got.Status, got.Message, want)
				}
			}
		})
	}
	// No Jellyfin at all is a warning, not a failure.
	r := Report{Checks: jellyfinChecks(context.Background(), JellyfinFiles{Units: []string{filepath.Join(dir, "none")}}, exe)}
	if len(r.Checks) != 1 || r.Checks[0].Status != Warn {
		t.Errorf("no Jellyfin: got %+v, want one warning", r.Checks)
	}
}
