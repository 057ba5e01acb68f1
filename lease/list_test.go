package lease

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseValue: any lease value parses without panicking, and a value in
// the package's own format reads back what was written.
func FuzzParseValue(f *testing.F) {
	f.Add("0b5c1b7e-5d0e-4d1c-9a51-3f1d2b8c9e10|host-a|1234|1732540000000|506779358851")
	f.Add("not ours")
	f.Add("a|b|c|d|e")
	f.Add("||||")
	f.Fuzz(func(t *testing.T, v string) {
		in := parseValue(v)
		if in.Host == v {
			return // not our format: shown raw
		}
		parts := strings.Split(v, "|")
		if len(parts) != 5 || parts[1] != in.Host {
			t.Fatalf("parseValue(%q) = %+v", v, in)
		}
		if !in.Started.Equal(time.UnixMilli(in.Started.UnixMilli())) {
			t.Fatalf("start %v not whole milliseconds", in.Started)
		}
	})
}
