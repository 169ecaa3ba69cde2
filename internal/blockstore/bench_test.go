package blockstore

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// saveV1 is the released Save, kept for the comparison: the whole state
// encoded as version 1 and written crash-safely (temporary file, fsync,
// rename, fsync of the directory) on every change.
func saveV1(s *Store) error {
	data, err := s.encodeSnapshot(versionWhole, 0)
	if err != nil {
		return err
	}
	_, err = writeAtomic(s.path, data)
	return err
}

// BenchmarkSave measures the cost of saving one changed block (an
// extended expiry, as a notification makes) in a store of n blocks: the
// released whole-file save (v1) beside the journal, whose figure includes
// its share of compactions. Run it on the disk the state lives on (the
// test's temporary directory): fsync dominates.
//
//	go test ./internal/blockstore -run '^$' -bench Save -benchtime 400x
func BenchmarkSave(b *testing.B) {
	for _, format := range []string{"v1", "journal"} {
		for _, n := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("format=%s/blocks=%d", format, n), func(b *testing.B) {
				s := mustOpen(b, filepath.Join(b.TempDir(), "state.json"))
				defer s.Close()
				fill(b, s, n)
				save := s.Save
				if format == "v1" {
					save = func() error { return saveV1(s) }
				}
				// written counts the bytes each save wrote: the whole file
				// (v1), or the record plus, when it compacted, the snapshot.
				var written, record int64
				compactions := 0
				b.ResetTimer()
				for i := range b.N {
					blk := nthBlock(i % n)
					blk.Expiry = blk.Expiry.Add(time.Duration(i+1) * time.Second)
					s.Put(blk)
					before := s.j.size
					if err := save(); err != nil {
						b.Fatal(err)
					}
					switch {
					case format == "v1":
						written += size(s.path)
					case s.j.size > before:
						record = s.j.size - before
						written += record
					default:
						compactions++
						written += record + s.j.snapSize
					}
				}
				b.ReportMetric(float64(written)/float64(b.N), "B/save")
				b.ReportMetric(float64(compactions), "compactions")
			})
		}
	}
}
