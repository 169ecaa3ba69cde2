package blockstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/synguard/synguard/internal/prefix"
)

// Versions of the snapshot. Version 1 is the released format: the whole
// state, rewritten on every save. Version 2 is the same state plus Seq, the
// number of the last change it holds; the changes after it are in the
// journal.
const (
	versionWhole    = 1
	versionSnapshot = 2
)

// snapshot is the state file's content.
type snapshot struct {
	Version int `json:"version"`
	// Seq is the number of the last change the snapshot holds (version 2).
	Seq    uint64 `json:"seq,omitempty"`
	Paused bool   `json:"paused"`
	// Backend and Mode name the firewall backend (and its mode) whose
	// entries the blocks are: another backend cannot see or lift them.
	Backend string  `json:"backend,omitempty"`
	Mode    string  `json:"mode,omitempty"`
	Blocks  []Block `json:"blocks"`
}

// corrupt is the error of a state that does not load: never treated as
// empty, because the blocks in the firewall could then never be lifted.
func corrupt(path, format string, args ...any) error {
	return fmt.Errorf("state file %s is corrupt (%s): refusing to start with no blocks, because the ones in the firewall could then never be lifted; "+
		"repair it, or move it aside and remove the responder's entries from the firewall by hand", path, fmt.Sprintf(format, args...))
}

// checkBlock refuses a record the store could not have written.
func checkBlock(b Block) error {
	c := prefix.Canonical(b.Prefix)
	if !c.IsValid() || c != b.Prefix {
		return fmt.Errorf("prefix %q is not canonical", b.Prefix)
	}
	if b.Active && b.Expiry.IsZero() {
		return fmt.Errorf("active block of %s without expiry", c)
	}
	return nil
}

// readSnapshot reads the snapshot at path; ok is false when there is none.
func readSnapshot(path string) (snap snapshot, size int64, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return snapshot{}, 0, false, nil
	}
	if err != nil {
		return snapshot{}, 0, false, fmt.Errorf("read state file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&snap); err != nil {
		return snapshot{}, 0, false, corrupt(path, "%v", err)
	}
	if dec.More() {
		return snapshot{}, 0, false, corrupt(path, "trailing data after the state")
	}
	switch {
	case snap.Version == versionWhole && snap.Seq != 0:
		return snapshot{}, 0, false, corrupt(path, "version 1 with a sequence number")
	case snap.Version != versionWhole && snap.Version != versionSnapshot:
		return snapshot{}, 0, false, corrupt(path, "version %d, this responder reads versions %d and %d", snap.Version, versionWhole, versionSnapshot)
	}
	seen := make(map[netip.Prefix]bool, len(snap.Blocks))
	for i, blk := range snap.Blocks {
		if err := checkBlock(blk); err != nil {
			return snapshot{}, 0, false, corrupt(path, "record %d: %v", i+1, err)
		}
		if seen[blk.Prefix] {
			return snapshot{}, 0, false, corrupt(path, "record %d: prefix %s twice", i+1, blk.Prefix)
		}
		seen[blk.Prefix] = true
	}
	return snap, int64(len(b)), true, nil
}

// writeAtomic replaces path with data crash-safely: temporary file, fsync,
// rename, fsync of the directory. The file on disk is always either the
// old or the new content. renamed reports that the new content is in
// place, if maybe not yet durably (the directory's fsync failed).
func writeAtomic(path string, data []byte) (renamed bool, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, err
	}
	return true, syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}

// encodeSnapshot returns the store as a snapshot of the given version at
// seq.
func (s *Store) encodeSnapshot(version int, seq uint64) ([]byte, error) {
	snap := snapshot{Version: version, Seq: seq, Paused: s.paused, Backend: s.backend, Mode: s.mode, Blocks: s.Blocks()}
	data, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return append(data, '\n'), nil
}

// load reads the snapshot and replays the journal after it; a version 1
// file is migrated.
func (s *Store) load() error {
	snap, size, ok, err := readSnapshot(s.path)
	if err != nil {
		return err
	}
	if !ok {
		if _, err := os.Stat(s.j.path); err == nil {
			return corrupt(s.path, "the journal %s exists without the snapshot it continues", s.j.path)
		}
		// The first save writes the snapshot: a journal always has one.
		s.j.mustCompact = true
		return nil
	}
	for _, b := range snap.Blocks {
		s.blocks[b.Prefix] = b
	}
	s.paused, s.backend, s.mode = snap.Paused, snap.Backend, snap.Mode
	s.j.snapSize, s.j.seq = size, snap.Seq
	if snap.Version == versionWhole {
		if _, err := os.Stat(s.j.path); err == nil {
			return corrupt(s.path, "a version 1 file beside a journal (%s): was an older file restored over a newer one?", s.j.path)
		}
		return s.migrate()
	}
	return s.replay()
}

// migrate rewrites a version 1 file as a version 2 snapshot, keeping the
// original at path + ".v1" for a downgrade. If it cannot, the store still
// opens: the first save then writes the snapshot.
func (s *Store) migrate() error {
	kept := s.path + ".v1"
	orig, err := os.ReadFile(s.path)
	if err == nil {
		if _, statErr := os.Stat(kept); errors.Is(statErr, fs.ErrNotExist) {
			_, err = writeAtomic(kept, orig)
		}
	}
	if err == nil {
		err = s.compact()
	}
	if err != nil {
		s.j.mustCompact = true
		s.repairs = append(s.repairs, fmt.Sprintf("state file %s is version 1; migrating it failed (%v): the first save writes version 2", s.path, err))
		return nil
	}
	s.repairs = append(s.repairs, fmt.Sprintf("state file %s migrated from version 1 to version 2 (a snapshot and a journal); the version 1 file is kept as %s", s.path, kept))
	return nil
}
