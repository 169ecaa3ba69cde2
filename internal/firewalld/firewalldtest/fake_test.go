package firewalldtest_test

import (
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
)

// TestFakeAnswersAsFirewalld replays the calls of
// shared/reference/firewalld-lab/errors.out (firewalld 1.3.3) against the
// fake and expects the same answers.
func TestFakeAnswersAsFirewalld(t *testing.T) {
	_, addr := firewalldtest.Start(t)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	obj := conn.Object(firewalld.BusName, firewalld.ObjectPath)
	for _, tc := range []struct {
		name, method string
		args         []any
		want         string // reply body, or the error body's code
	}{
		{"add", "zone.addSource", []any{"drop", "198.51.100.32/27"}, "drop"},
		{"add again", "zone.addSource", []any{"drop", "198.51.100.32/27"}, "ZONE_ALREADY_SET"},
		{"same source other zone", "zone.addSource", []any{"block", "198.51.100.32/27"}, "ZONE_CONFLICT"},
		{"query", "zone.querySource", []any{"drop", "198.51.100.32/27"}, "true"},
		{"zone of source", "zone.getZoneOfSource", []any{"198.51.100.32/27"}, "drop"},
		{"remove", "zone.removeSource", []any{"drop", "198.51.100.32/27"}, "drop"},
		{"remove again", "zone.removeSource", []any{"drop", "198.51.100.32/27"}, "UNKNOWN_SOURCE"},
		{"invalid addr", "zone.addSource", []any{"drop", "198.51.100.300/27"}, "INVALID_ADDR"},
		{"garbage", "zone.addSource", []any{"drop", "not-an-address"}, "INVALID_ADDR"},
		{"ipv6", "zone.addSource", []any{"drop", "2001:db8::/32"}, "drop"},
		{"host bits kept", "zone.addSource", []any{"drop", "198.51.100.33/27"}, "drop"},
		{"empty zone = default zone", "zone.addSource", []any{"", "203.0.113.0/24"}, "public"},
		{"unknown zone", "zone.addSource", []any{"nosuchzone", "203.0.113.0/24"}, "INVALID_ZONE"},
		{"unknown ipset as source", "zone.addSource", []any{"drop", "ipset:nosuchset"}, "INVALID_IPSET"},
		{"unknown ipset entry", "ipset.addEntry", []any{"nosuchset", "198.51.100.32/27"}, "INVALID_IPSET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := obj.Call(firewalld.BusName+"."+tc.method, 0, tc.args...)
			var got string
			if call.Err != nil {
				var de dbus.Error
				if e, ok := call.Err.(dbus.Error); ok {
					de = e
				}
				if de.Name != firewalld.ExceptionName || len(de.Body) != 1 {
					t.Fatalf("error %v, want a %s", call.Err, firewalld.ExceptionName)
				}
				got, _, _ = strings.Cut(de.Body[0].(string), ":")
			} else if len(call.Body) == 1 {
				got = strings.ToLower(strings.Trim(strings.TrimSpace(fmtAny(call.Body[0])), `"`))
			}
			if got != tc.want {
				t.Errorf("%s%v = %q, want %q", tc.method, tc.args, got, tc.want)
			}
		})
	}
}

func fmtAny(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return ""
}
