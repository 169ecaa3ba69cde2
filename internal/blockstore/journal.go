package blockstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/synguard/synguard/internal/prefix"
)

// compactRecords is how many journal records trigger a compaction besides
// the journal outgrowing the snapshot: it bounds the replay at start.
const compactRecords = 1024

// journal is the append-only file of changes beside the snapshot: one
// line per save, "CRC32C JSON\n". A save appends its record and fsyncs it;
// when the journal grows past the snapshot's size or compactRecords
// records, the next save writes a new snapshot and empties the journal.
type journal struct {
	path string
	f    *os.File
	// seq is the number of the last change saved (snapshot or record).
	seq uint64
	// size and records describe the journal's valid content; snapSize is
	// the snapshot's size.
	size, snapSize int64
	records        int
	// maxRecords is compactRecords (smaller in tests).
	maxRecords int
	// mustCompact: the journal's end is not known to be clean (a failed
	// append could not be undone) or there is no version 2 snapshot yet,
	// so the next save writes a snapshot instead of a record.
	mustCompact bool
}

func (j *journal) init(statePath string) {
	j.path, j.maxRecords = statePath+".journal", compactRecords
}

func (j *journal) close() {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// record is one saved change: the header as it is after the change, and
// the records it put (whole) or deleted.
type record struct {
	Seq     uint64         `json:"seq"`
	Paused  bool           `json:"paused"`
	Backend string         `json:"backend,omitempty"`
	Mode    string         `json:"mode,omitempty"`
	Put     []Block        `json:"put,omitempty"`
	Delete  []netip.Prefix `json:"delete,omitempty"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeRecord(r record) ([]byte, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode state change: %w", err)
	}
	line := fmt.Appendf(nil, "%08x ", crc32.Checksum(body, castagnoli))
	return append(append(line, body...), '\n'), nil
}

// decodeRecord parses one line without its newline.
func decodeRecord(line []byte) (record, error) {
	var r record
	if len(line) < 10 || line[8] != ' ' {
		return r, errors.New("no checksum")
	}
	var sum uint32
	if _, err := fmt.Sscanf(string(line[:8]), "%08x", &sum); err != nil {
		return r, errors.New("bad checksum field")
	}
	body := line[9:]
	if crc32.Checksum(body, castagnoli) != sum {
		return r, errors.New("checksum mismatch")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, err
	}
	return r, nil
}

// replay applies the journal's records after the snapshot's and cuts a
// torn end off the file.
func (s *Store) replay() error {
	j := &s.j
	data, err := os.ReadFile(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state journal: %w", err)
	}
	good, err := s.replayData(data)
	if err != nil {
		return err
	}
	if good < len(data) {
		if err := os.Truncate(j.path, int64(good)); err != nil {
			j.mustCompact = true
		}
	}
	return nil
}

// replayData applies the records in data and returns the length of its
// valid part. A torn last record (no newline, or a bad last line: the write
// a crash interrupted, never acknowledged) is dropped; a bad record before
// the last is corruption.
func (s *Store) replayData(data []byte) (int, error) {
	j := &s.j
	good := 0
	for off := 0; off < len(data); {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			s.repairs = append(s.repairs, fmt.Sprintf("state journal %s: dropped a torn last record (%d bytes without an end), a change never acknowledged", j.path, len(data)-off))
			break
		}
		r, err := decodeRecord(data[off : off+nl])
		if err != nil {
			if off+nl+1 == len(data) {
				s.repairs = append(s.repairs, fmt.Sprintf("state journal %s: dropped a torn last record (%v), a change never acknowledged", j.path, err))
				break
			}
			return 0, corrupt(j.path, "record at byte %d: %v; later records follow it, so it is not a torn write", off, err)
		}
		switch {
		case r.Seq <= j.seq:
			// Already in the snapshot: a compaction ended before it
			// emptied the journal.
		case r.Seq != j.seq+1:
			return 0, corrupt(j.path, "record at byte %d: change %d after change %d", off, r.Seq, j.seq)
		default:
			if err := s.apply(r); err != nil {
				return 0, corrupt(j.path, "record at byte %d: %v", off, err)
			}
			j.seq = r.Seq
		}
		off += nl + 1
		good = off
		j.records++
	}
	j.size = int64(good)
	return good, nil
}

func (s *Store) apply(r record) error {
	for _, b := range r.Put {
		if err := checkBlock(b); err != nil {
			return err
		}
		s.blocks[b.Prefix] = b
	}
	for _, p := range r.Delete {
		if c := prefix.Canonical(p); !c.IsValid() || c != p {
			return fmt.Errorf("deleted prefix %q is not canonical", p)
		}
		delete(s.blocks, p)
	}
	s.paused, s.backend, s.mode = r.Paused, r.Backend, r.Mode
	return nil
}

// Save makes every change since the last save durable, crash-safely and in
// one piece: one fsync'd journal record holding what changed, so a save
// costs what the change costs, not the whole store. Every compactRecords
// records, or once the journal outgrows the snapshot, the save writes a
// new snapshot instead (temporary file, fsync, rename, fsync of the
// directory) and empties the journal. A failed save leaves the file as it
// was and keeps the changes for the next one.
func (s *Store) Save() error {
	if len(s.dirty) == 0 && !s.header && !s.j.mustCompact {
		return nil
	}
	// The errors say which step failed (compact, append to journal); the
	// callers say "save state", once.
	if s.j.mustCompact {
		if err := s.compact(); err != nil {
			return fmt.Errorf("write snapshot: %w", err)
		}
		return nil
	}
	if err := s.appendChange(); err != nil {
		return err
	}
	if s.j.size > s.j.snapSize || s.j.records >= s.j.maxRecords {
		// The change is saved; a failed compaction is tried again at the
		// next save.
		_ = s.compact()
	}
	return nil
}

// appendChange writes the dirty records as one journal record.
func (s *Store) appendChange() error {
	j := &s.j
	r := record{Seq: j.seq + 1, Paused: s.paused, Backend: s.backend, Mode: s.mode}
	for _, p := range slices.SortedFunc(maps.Keys(s.dirty), prefix.Compare) {
		if b, ok := s.blocks[p]; ok {
			r.Put = append(r.Put, b)
		} else {
			r.Delete = append(r.Delete, p)
		}
	}
	line, err := encodeRecord(r)
	if err != nil {
		return err
	}
	if j.f != nil && !j.current() {
		// The journal was moved or deleted (the state directory with it):
		// records written to the open file would be lost at start. The
		// save writes a snapshot at the path instead, or fails loudly.
		j.close()
		j.mustCompact = true
		return s.compact()
	}
	if j.f == nil {
		f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("open journal: %w", err)
		}
		// The journal's name must survive a crash as well as its records.
		if err := syncDir(filepath.Dir(j.path)); err != nil {
			f.Close()
			return err
		}
		j.f = f
	}
	_, err = j.f.Write(line)
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		// Cut what was written, so that the next record follows a clean
		// end; if even that fails, the next save writes a snapshot.
		if terr := j.f.Truncate(j.size); terr != nil {
			j.mustCompact = true
		}
		return fmt.Errorf("append to journal: %w", err)
	}
	j.seq++
	j.size += int64(len(line))
	j.records++
	clear(s.dirty)
	s.header = false
	return nil
}

// current reports whether the open journal is still the file at its path
// (two stats, a few microseconds a save).
func (j *journal) current() bool {
	open, err := j.f.Stat()
	if err != nil {
		return false
	}
	named, err := os.Stat(j.path)
	return err == nil && os.SameFile(open, named)
}

// compact writes the whole store as a version 2 snapshot and empties the
// journal. A crash between the two leaves records the snapshot already
// holds, which replay skips by their numbers.
func (s *Store) compact() error {
	j := &s.j
	data, err := s.encodeSnapshot(versionSnapshot, j.seq+1)
	if err != nil {
		return err
	}
	renamed, err := writeAtomic(s.path, data)
	if !renamed {
		return err
	}
	// In place: later records must number after it. Not durable if the
	// directory's fsync failed: then the next save writes a snapshot
	// again rather than a record that would follow a snapshot a crash
	// could still undo.
	j.seq++
	j.snapSize = int64(len(data))
	j.mustCompact = err != nil
	clear(s.dirty)
	s.header = false
	if err != nil {
		return err
	}
	if err := s.emptyJournal(); err != nil {
		// Its records are in the snapshot now and are skipped at start;
		// the next compaction tries again.
		return nil
	}
	j.size, j.records = 0, 0
	return nil
}

func (s *Store) emptyJournal() error {
	j := &s.j
	if j.f != nil {
		if err := j.f.Truncate(0); err != nil {
			return err
		}
		return j.f.Sync()
	}
	err := os.Truncate(j.path, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// ReadBlocks returns every record of the state at path, snapshot and
// journal, without taking the lock: for tests and tools that look at the
// state of a running responder. It changes nothing on disk.
func ReadBlocks(path string) ([]Block, error) {
	s := &Store{path: path, blocks: map[netip.Prefix]Block{}, dirty: map[netip.Prefix]struct{}{}}
	s.j.init(path)
	snap, size, ok, err := readSnapshot(path)
	if err != nil || !ok {
		return nil, err
	}
	for _, b := range snap.Blocks {
		s.blocks[b.Prefix] = b
	}
	s.j.snapSize, s.j.seq = size, snap.Seq
	if snap.Version == versionSnapshot {
		data, err := os.ReadFile(s.j.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read state journal: %w", err)
		}
		if _, err := s.replayData(data); err != nil {
			return nil, err
		}
	}
	return s.Blocks(), nil
}
