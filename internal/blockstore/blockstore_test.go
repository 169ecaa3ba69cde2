package blockstore

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 0 || s.Paused() {
		t.Fatal("new store not empty")
	}
	since := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	want := []Block{
		{Prefix: netip.MustParsePrefix("198.51.100.32/27"), Source: SourceAlert, Alert: "SynFlood", Reason: "flood", Since: since, Expiry: since.Add(time.Hour), Offences: 2, Active: true, Installed: true, LastLifted: since.Add(-time.Hour), LiftReason: LiftExpired},
		{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), Source: SourceManual, Since: since, Expiry: since.Add(time.Hour), Offences: 1, Installed: true},
		{Prefix: netip.MustParsePrefix("203.0.113.0/27"), Source: SourceAlert, Since: since, Expiry: since, Offences: 3, LastLifted: since, LiftReason: LiftManual},
	}
	for _, b := range want {
		s.Put(b)
	}
	s.SetPaused(true)
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open while locked: %v, want ErrLocked", err)
	}
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got := s2.Blocks()
	wantSorted := []Block{want[0], want[2], want[1]}
	if diff := cmp.Diff(wantSorted, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Fatalf("unexpected blocks (-want +got):\n%s", diff)
	}
	if !s2.Paused() {
		t.Fatal("pause switch lost")
	}
	if !got[0].Owned() || !got[2].Owned() || got[1].Owned() {
		t.Fatal("Owned wrong")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestCorruptRefused(t *testing.T) {
	good := `{"version":1,"paused":false,"blocks":[{"prefix":"198.51.100.32/27","source":"alert","since":"2026-11-26T12:00:00Z","expiry":"2026-11-26T13:00:00Z","offences":1,"active":true,"installed":true}]}`
	tests := map[string]string{
		"truncated":     good[:len(good)/2],
		"empty":         "",
		"not json":      "hello",
		"wrong version": strings.Replace(good, `"version":1`, `"version":7`, 1),
		"host bits":     strings.Replace(good, "198.51.100.32/27", "198.51.100.33/27", 1),
		"bad prefix":    strings.Replace(good, "198.51.100.32/27", "198.51.100.300/27", 1),
		"unknown field": strings.Replace(good, `"paused"`, `"surprise":1,"paused"`, 1),
		"trailing":      good + "{}",
		"no expiry":     strings.Replace(good, `"expiry":"2026-11-26T13:00:00Z",`, "", 1),
		"duplicate":     strings.Replace(good, `]}`, `,{"prefix":"198.51.100.32/27","source":"alert","since":"2026-11-26T12:00:00Z","expiry":"2026-11-26T13:00:00Z","offences":1}]}`, 1),
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatal("corrupt state accepted")
			}
			if !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not say the file is corrupt: %v", err)
			}
			b, _ := os.ReadFile(path)
			if string(b) != content {
				t.Fatal("corrupt file was modified")
			}
		})
	}
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte(good), 0o600)
	s, err := Open(path)
	if err != nil {
		t.Fatalf("good state refused: %v", err)
	}
	s.Close()
}

func TestLeftoverTempIgnored(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Put(Block{Prefix: netip.MustParsePrefix("198.51.100.32/27"), Active: true, Installed: true, Expiry: time.Now().Add(time.Hour)})
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A crash between create and rename leaves a half-written temporary file.
	os.WriteFile(filepath.Join(dir, "state.json.tmp123"), []byte(`{"vers`), 0o600)
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Len() != 1 {
		t.Fatalf("state has %d records, want 1", s.Len())
	}
}
