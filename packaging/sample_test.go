// Package packaging holds the Debian package's files; its test keeps the
// sample configuration true to internal/config.
package packaging

import (
	"os"
	"reflect"
	"regexp"
	"testing"

	"github.com/rffmpeg/rffmpeg/internal/config"
)

func noEnv(string) (string, bool) { return "", false }

// setting is a commented-out key: '#' right before the key, no space (a
// comment in prose has one).
var setting = regexp.MustCompile(`(?m)^(\s*)#([a-z_]+:.*)$`)

// The sample /etc/rffmpeg/rffmpeg.yml changes nothing as shipped, and it
// shows every key with its default: uncommenting every setting sets each
// key from the file, to the value it had by default, with no warning.
func TestSampleConfigShowsEveryDefault(t *testing.T) {
	data, err := os.ReadFile("rffmpeg.yml")
	if err != nil {
		t.Fatal(err)
	}
	def, err := config.Parse(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := config.Parse(data, noEnv)
	if err != nil {
		t.Fatalf("sample as shipped: %v", err)
	}
	if len(shipped.Warnings) > 0 {
		t.Errorf("sample as shipped: warnings %q", shipped.Warnings)
	}
	if got, want := shipped.Entries(), def.Entries(); !reflect.DeepEqual(got, want) {
		t.Errorf("sample as shipped changes settings:\n got %v\nwant %v", got, want)
	}

	open := setting.ReplaceAll(data, []byte("$1$2"))
	if n, want := len(setting.FindAll(data, -1)), len(def.Entries()); n != want {
		t.Errorf("sample has %d commented-out settings, configuration has %d keys", n, want)
	}
	all, err := config.Parse(open, noEnv)
	if err != nil {
		t.Fatalf("sample with every setting uncommented: %v", err)
	}
	if len(all.Warnings) > 0 {
		t.Errorf("sample with every setting uncommented: warnings %q", all.Warnings)
	}
	want := def.Entries()
	for i, e := range all.Entries() {
		if e.Source != config.FromFile {
			t.Errorf("%s: not in the sample (source %s)", e.Key, e.Source)
		}
		if !reflect.DeepEqual(e.Value, want[i].Value) {
			t.Errorf("%s: sample says %#v, default is %#v", e.Key, e.Value, want[i].Value)
		}
	}
}
