package shim

import (
	"reflect"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/state"
)

func TestMapArgs(t *testing.T) {
	maps, err := state.ParsePathMaps("/srv/media:/mnt/media,/srv/media/tv:/tv")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		in      []string
		maps    []state.PathMap
		want    []string
		changed int
	}{
		{"off by default", []string{"-i", "/srv/media/a.mkv"}, nil, []string{"-i", "/srv/media/a.mkv"}, 0},
		{"prefix", []string{"-i", "/srv/media/a b.mkv", "-y", "/srv/media/out.ts"}, maps,
			[]string{"-i", "/mnt/media/a b.mkv", "-y", "/mnt/media/out.ts"}, 2},
		{"after file:", []string{"-i", "file:/srv/media/a.mkv"}, maps, []string{"-i", "file:/mnt/media/a.mkv"}, 1},
		{"longest prefix first", []string{"/srv/media/tv/e01.mkv"}, maps, []string{"/tv/e01.mkv"}, 1},
		{"whole components only", []string{"/srv/media2/a.mkv", "x/srv/media/a", "/srv/medi"}, maps,
			[]string{"/srv/media2/a.mkv", "x/srv/media/a", "/srv/medi"}, 0},
		{"the prefix itself", []string{"/srv/media"}, maps, []string{"/mnt/media"}, 1},
		{"inside a filter graph: untouched", []string{"-vf", "subtitles=filename=/srv/media/a.srt"}, maps,
			[]string{"-vf", "subtitles=filename=/srv/media/a.srt"}, 0},
		{"empty and odd words", []string{"", "file:", "-"}, maps, []string{"", "file:", "-"}, 0},
	} {
		in := append([]string{}, tc.in...)
		got, n := MapArgs(tc.in, tc.maps)
		if !reflect.DeepEqual(got, tc.want) || n != tc.changed {
			t.Errorf("%s: got %q (%d changed), want %q (%d)", tc.name, got, n, tc.want, tc.changed)
		}
		if !reflect.DeepEqual(tc.in, in) {
			t.Errorf("%s: the caller's arguments were modified: %q", tc.name, tc.in)
		}
	}
}
