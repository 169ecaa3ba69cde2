package blockstore

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// nthBlock is an active block of the n-th address of 198.18.0.0/15.
func nthBlock(n int) Block {
	p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18 + byte(n>>16&1), byte(n >> 8), byte(n)}), 32)
	return Block{Prefix: p, Source: SourceAlert, Alert: "SynguardPrefixFlooding", Reason: "SYN flood from " + p.String(),
		Since: t0, Expiry: t0.Add(time.Hour), Offences: 1, Active: true, Installed: true}
}

func mustOpen(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fill(t testing.TB, s *Store, n int) {
	t.Helper()
	for i := range n {
		s.Put(nthBlock(i))
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
}

var cmpPrefix = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func size(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// TestSaveCostsTheChange: with 1,000 blocks stored, saving one changed
// block appends a record of about one block to the journal; the state
// file is not rewritten.
func TestSaveCostsTheChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := mustOpen(t, path)
	defer s.Close()
	fill(t, s, 1000)
	before, snap, journal := inode(t, path), size(path), size(path+".journal")
	b := nthBlock(7)
	b.Expiry = b.Expiry.Add(time.Hour)
	s.Put(b)
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if inode(t, path) != before || size(path) != snap {
		t.Fatalf("saving one change rewrote the %d-byte state file", snap)
	}
	if grew := size(path+".journal") - journal; grew <= 0 || grew > 1024 {
		t.Fatalf("saving one change of a %d-byte state wrote %d bytes to the journal, want one record (< 1 KiB)", snap, grew)
	}
	s.Close()
	s2 := mustOpen(t, path)
	defer s2.Close()
	if got, _ := s2.Get(b.Prefix); !got.Expiry.Equal(b.Expiry) || s2.Len() != 1000 {
		t.Fatalf("after reopening: %d records, %v = %+v", s2.Len(), b.Prefix, got)
	}
}

// TestJournalReplay: puts, deletes and header changes saved as records
// come back in order, across compactions, as the same state.
func TestJournalReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := mustOpen(t, path)
	s.j.maxRecords = 7
	want := map[netip.Prefix]Block{}
	for i := range 40 {
		b := nthBlock(i % 13)
		b.Offences = i
		if i%5 == 4 {
			s.Delete(b.Prefix)
			delete(want, b.Prefix)
		} else {
			s.Put(b)
			want[b.Prefix] = b
		}
		s.SetPaused(i%3 == 0)
		s.SetBackend("firewalld", fmt.Sprint("mode", i))
		if err := s.Save(); err != nil {
			t.Fatal(err)
		}
		if s.j.records >= s.j.maxRecords {
			t.Fatalf("save %d: %d records, compaction due at %d", i, s.j.records, s.j.maxRecords)
		}
	}
	wantBlocks := s.Blocks()
	s.Close()
	s2 := mustOpen(t, path)
	defer s2.Close()
	if diff := cmp.Diff(wantBlocks, s2.Blocks(), cmpPrefix); diff != "" {
		t.Fatalf("replayed state differs (-want +got):\n%s", diff)
	}
	if len(want) != s2.Len() || !s2.Paused() {
		t.Fatalf("%d records (want %d), paused %v", s2.Len(), len(want), s2.Paused())
	}
	if b, m := s2.Backend(); b != "firewalld" || m != "mode39" {
		t.Fatalf("backend %s %s", b, m)
	}
	if len(s2.Repairs()) != 0 {
		t.Fatalf("clean state repaired: %v", s2.Repairs())
	}
	got, err := ReadBlocks(path)
	if err != nil || !cmp.Equal(wantBlocks, got, cmpPrefix) {
		t.Fatalf("ReadBlocks: %v, %d records", err, len(got))
	}
}

// TestCompactionBySize: a journal larger than the snapshot is folded
// into a new snapshot, and the journal emptied.
func TestCompactionBySize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := mustOpen(t, path)
	defer s.Close()
	fill(t, s, 4)
	snap := size(path)
	for i := range 20 {
		b := nthBlock(i % 4)
		b.Offences = i + 2
		s.Put(b)
		if err := s.Save(); err != nil {
			t.Fatal(err)
		}
		if j := size(path + ".journal"); j > snap+1024 {
			t.Fatalf("save %d: journal %d bytes beside a %d-byte snapshot", i, j, snap)
		}
	}
	if s.j.snapSize == snap {
		t.Fatal("no compaction in 20 saves of a 4-block state")
	}
}

// records saves 20 blocks (the snapshot) and n more, one record each, and
// returns the journal's content.
func records(t *testing.T, path string, n int) (*Store, []byte) {
	t.Helper()
	s := mustOpen(t, path)
	fill(t, s, 20) // the first save writes the snapshot
	for i := range n {
		b := nthBlock(i + 20)
		s.Put(b)
		if err := s.Save(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	data, err := os.ReadFile(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	return s, data
}

// TestTornLastRecordDropped: a crash while the last record was written
// leaves part of it; Open drops it, says so, and the store goes on.
func TestTornLastRecordDropped(t *testing.T) {
	for name, cut := range map[string]func([]byte) []byte{
		"no newline":     func(d []byte) []byte { return d[:len(d)-20] },
		"bad checksum":   func(d []byte) []byte { return append(append([]byte{}, d[:len(d)-3]...), 'X', '}', '\n') },
		"zeros appended": func(d []byte) []byte { return append(append([]byte{}, d...), 0, 0, 0, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			_, data := records(t, path, 3)
			if err := os.WriteFile(path+".journal", cut(data), 0o600); err != nil {
				t.Fatal(err)
			}
			s := mustOpen(t, path)
			defer s.Close()
			want := 23
			if name != "zeros appended" {
				want = 22
			}
			if s.Len() != want || len(s.Repairs()) != 1 || !strings.Contains(s.Repairs()[0], "torn last record") {
				t.Fatalf("%d records (want %d), repairs %q", s.Len(), want, s.Repairs())
			}
			// The torn end is cut: the next record follows a clean end.
			s.Put(nthBlock(40))
			if err := s.Save(); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s2 := mustOpen(t, path)
			defer s2.Close()
			if s2.Len() != want+1 || len(s2.Repairs()) != 0 {
				t.Fatalf("after the next save: %d records, repairs %q", s2.Len(), s2.Repairs())
			}
		})
	}
}

// TestCorruptJournalRefused: a bad record with records after it is not a
// torn write: Open refuses to start, naming the journal, and changes
// nothing.
func TestCorruptJournalRefused(t *testing.T) {
	for name, spoil := range map[string]func([]byte) []byte{
		"flipped byte": func(d []byte) []byte { d = append([]byte{}, d...); d[20] ^= 1; return d },
		"gap":          func(d []byte) []byte { i := strings.IndexByte(string(d), '\n'); return d[i+1:] },
		"bad prefix":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			_, data := records(t, path, 3)
			var bad []byte
			if spoil != nil {
				bad = spoil(data)
			} else {
				line, _ := encodeRecord(record{Seq: 2, Delete: []netip.Prefix{netip.MustParsePrefix("198.18.0.33/24")}})
				if _, err := decodeRecord(line[:len(line)-1]); err != nil {
					t.Fatal(err)
				}
				i := strings.IndexByte(string(data), '\n')
				bad = append(line, data[i+1:]...)
			}
			os.WriteFile(path+".journal", bad, 0o600)
			_, err := Open(path)
			if err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), path+".journal") {
				t.Fatalf("Open = %v, want a corrupt journal refused", err)
			}
			if got, _ := os.ReadFile(path + ".journal"); string(got) != string(bad) {
				t.Fatal("the corrupt journal was modified")
			}
		})
	}
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path+".journal", []byte("x"), 0o600)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "without the snapshot") {
		t.Fatalf("a journal without its snapshot: %v", err)
	}
}

// TestCompactionInterrupted: a crash after the new snapshot's rename and
// before the journal was emptied leaves records the snapshot holds; they
// are skipped, not applied twice.
func TestCompactionInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	_, data := records(t, path, 3)
	s := mustOpen(t, path)
	s.Delete(nthBlock(21).Prefix)
	if err := s.compact(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.WriteFile(path+".journal", data, 0o600) // as before the compaction emptied it
	s2 := mustOpen(t, path)
	defer s2.Close()
	if _, ok := s2.Get(nthBlock(21).Prefix); ok || s2.Len() != 22 {
		t.Fatalf("a record the snapshot already held was applied again: %d records", s2.Len())
	}
}

// TestFailedAppendLeavesNothing: a record that cannot be written is cut
// off (or, failing that, the next save writes a snapshot), and the change
// stays for the next save.
func TestFailedAppendLeavesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := mustOpen(t, path)
	defer s.Close()
	fill(t, s, 3)
	s.Put(nthBlock(3))
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	ro, err := os.Open(path + ".journal") // read-only: writes fail
	if err != nil {
		t.Fatal(err)
	}
	s.j.f.Close()
	s.j.f = ro
	s.Put(nthBlock(4))
	if err := s.Save(); err == nil {
		t.Fatal("a failed append reported success")
	}
	if !s.j.mustCompact {
		t.Fatal("a failed append that could not be cut does not force a snapshot")
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBlocks(path)
	if err != nil || len(got) != 5 {
		t.Fatalf("after the retry: %d records, %v", len(got), err)
	}
}

// TestMigrateV1: a state file the released responder wrote (version 1,
// testdata/state-v1.json, written by its Save) opens with the same
// content, is rewritten as version 2, keeps the original as .v1, and the
// next saves go to the journal.
func TestMigrateV1(t *testing.T) {
	orig, err := os.ReadFile("testdata/state-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var want snapshot
	if err := jsonStrict(orig, &want); err != nil || want.Version != 1 || len(want.Blocks) != 4 {
		t.Fatalf("fixture: %v %+v", err, want)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, orig, 0o600)
	s := mustOpen(t, path)
	if diff := cmp.Diff(want.Blocks, s.Blocks(), cmpPrefix); diff != "" {
		t.Fatalf("migrated blocks differ (-v1 +got):\n%s", diff)
	}
	if b, m := s.Backend(); !s.Paused() || b != "firewalld" || m != "ipset" {
		t.Fatalf("header lost: paused %v, backend %s %s", s.Paused(), b, m)
	}
	if len(s.Repairs()) != 1 || !strings.Contains(s.Repairs()[0], "migrated from version 1") {
		t.Fatalf("repairs %q", s.Repairs())
	}
	if kept, _ := os.ReadFile(path + ".v1"); string(kept) != string(orig) {
		t.Fatal("the version 1 file is not kept")
	}
	if now, _ := os.ReadFile(path); !strings.HasPrefix(string(now), `{"version":2,`) {
		t.Fatalf("not rewritten as version 2: %.40s", now)
	}
	s.SetPaused(false)
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if size(path+".journal") == 0 {
		t.Fatal("a save after the migration did not go to the journal")
	}
	s.Close()
	s2 := mustOpen(t, path)
	defer s2.Close()
	if diff := cmp.Diff(want.Blocks, s2.Blocks(), cmpPrefix); diff != "" || s2.Paused() || len(s2.Repairs()) != 0 {
		t.Fatalf("reopened: paused %v, repairs %q, diff %s", s2.Paused(), s2.Repairs(), diff)
	}
}

func jsonStrict(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestStateDirectoryRemoved: with the state directory deleted under a
// running store, a save fails (as the whole-file save did) instead of
// going to the open, unlinked journal, and once the directory is back the
// next save writes everything.
func TestStateDirectoryRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "state.json")
	s := mustOpen(t, path)
	defer s.Close()
	fill(t, s, 3)
	s.Put(nthBlock(3))
	if err := s.Save(); err != nil || s.j.f == nil {
		t.Fatalf("a record: %v (journal open %v)", err, s.j.f != nil)
	}
	os.RemoveAll(dir)
	s.Put(nthBlock(4))
	if err := s.Save(); err == nil {
		t.Fatal("a save into a deleted state directory reported success")
	}
	os.MkdirAll(dir, 0o700)
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBlocks(path)
	if err != nil || len(got) != 5 {
		t.Fatalf("after the directory came back: %d records, %v", len(got), err)
	}
}
