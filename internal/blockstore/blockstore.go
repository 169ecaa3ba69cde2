package blockstore

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/synguard/synguard/internal/origin"
	"github.com/synguard/synguard/internal/prefix"
)

// Sources of a block.
const (
	SourceAlert  = "alert"
	SourceManual = "manual"
	// SourceWiden is a wider prefix blocked in place of the alert blocks
	// inside it (policy.Widen).
	SourceWiden = "widen"
)

// Lift reasons.
const (
	LiftExpired  = "expired"
	LiftManual   = "manual"
	LiftResolved = "resolved"
	LiftPurged   = "purged"
	// LiftAllowlisted: the allowlist (or the host's own addresses) came to
	// overlap the block.
	LiftAllowlisted = "allowlisted"
	// LiftWidened: a wider block made by widening replaced it.
	LiftWidened = "widened"
)

// Block is one prefix the responder blocks or blocked.
type Block struct {
	Prefix netip.Prefix `json:"prefix"`
	// Source is SourceAlert, SourceManual or SourceWiden.
	Source string `json:"source"`
	// Reason is the alert's summary or the operator's words.
	Reason string `json:"reason,omitempty"`
	// Alert is the alertname that asked for the block.
	Alert string `json:"alert,omitempty"`
	// Origin is who the prefix belonged to when it was blocked, where the
	// origin databases knew it.
	Origin *origin.Info `json:"origin,omitempty"`
	// Since is when the current (or last) block began.
	Since time.Time `json:"since"`
	// Expiry is when it ends.
	Expiry time.Time `json:"expiry"`
	// Offences counts the blocks of this prefix still remembered.
	Offences int `json:"offences"`
	// Active means the block is wanted in firewalld.
	Active bool `json:"active"`
	// Installed means the prefix may be in firewalld because the responder
	// put it there: it stays true after a lift until the removal succeeded,
	// so a crash between the two never leaves an entry nobody owns.
	Installed bool `json:"installed"`
	// Applied means firewalld confirmed the active block (as of the last
	// save); a confirmed block missing at start means firewalld reloaded or
	// restarted while the responder was down.
	Applied bool `json:"applied,omitempty"`
	// Preexisting means the firewall already dropped the prefix, as an
	// entry that is not the responder's (an operator's own drop source),
	// when the block was applied: the responder never owns it, so it never
	// removes it.
	Preexisting bool `json:"preexisting,omitempty"`
	// LastLifted and LiftReason describe how the last block ended.
	LastLifted time.Time `json:"last_lifted,omitzero"`
	LiftReason string    `json:"lift_reason,omitempty"`
}

// Owned reports whether the prefix may be in the firewall by the
// responder's doing.
func (b Block) Owned() bool { return (b.Active || b.Installed) && !b.Preexisting }

// Family returns "ipv4" or "ipv6".
func (b Block) Family() string { return prefix.Family(b.Prefix.Addr()) }

// Store is the set of owned and remembered blocks. It is not safe for
// concurrent use; its owner serialises access.
type Store struct {
	path   string
	lock   *os.File
	blocks map[netip.Prefix]Block
	paused bool
	// backend and mode are the header's Backend and Mode.
	backend, mode string

	// j is the journal beside the snapshot (journal.go); dirty holds the
	// prefixes changed since the last save, header whether the header did.
	j      journal
	dirty  map[netip.Prefix]struct{}
	header bool
	// repairs says what Open repaired or migrated, for the owner's log.
	repairs []string
}

// ErrLocked is returned by Open when another process holds the state file.
var ErrLocked = errors.New("state file is in use by another synguard-responder")

// Open takes an exclusive lock beside path (path + ".lock"), so two
// responders, or the purge command and a running responder, never share a
// state file, and loads the state: the snapshot at path, then the journal
// beside it (path + ".journal"). A missing snapshot is an empty state; one
// that does not parse, holds an invalid record, or a journal record that is
// corrupt anywhere but at its end, is an error. A torn last journal record
// (a crash while it was written, so never acknowledged) is dropped, and a
// version 1 file (the released format) is rewritten as a version 2
// snapshot, its original kept at path + ".v1"; Repairs says which.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock state file %s: %w", path, err)
	}
	s := &Store{path: path, lock: lock, blocks: map[netip.Prefix]Block{}, dirty: map[netip.Prefix]struct{}{}}
	s.j.init(path)
	if err := s.load(); err != nil {
		s.j.close()
		lock.Close()
		return nil, err
	}
	return s, nil
}

// Repairs returns what Open repaired or migrated (a dropped torn journal
// record, a migrated version 1 file), one sentence each, for the log.
func (s *Store) Repairs() []string { return s.repairs }

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// Close closes the journal and releases the lock.
func (s *Store) Close() error {
	s.j.close()
	return s.lock.Close()
}

// Get returns the record of p.
func (s *Store) Get(p netip.Prefix) (Block, bool) {
	b, ok := s.blocks[p]
	return b, ok
}

// Put stores b under its prefix, replacing any record of it.
func (s *Store) Put(b Block) {
	s.blocks[b.Prefix] = b
	s.dirty[b.Prefix] = struct{}{}
}

// Delete forgets p.
func (s *Store) Delete(p netip.Prefix) {
	delete(s.blocks, p)
	s.dirty[p] = struct{}{}
}

// Len returns the number of records, lifted ones included.
func (s *Store) Len() int { return len(s.blocks) }

// Blocks returns every record sorted by prefix.
func (s *Store) Blocks() []Block {
	out := make([]Block, 0, len(s.blocks))
	for _, b := range s.blocks {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Block) int { return prefix.Compare(a.Prefix, b.Prefix) })
	return out
}

// Each calls fn for every record in no order; fn must not modify the store.
func (s *Store) Each(fn func(Block)) {
	for _, b := range s.blocks {
		fn(b)
	}
}

// Paused returns the stored pause switch.
func (s *Store) Paused() bool { return s.paused }

// SetPaused sets the pause switch; Save persists it.
func (s *Store) SetPaused(p bool) { s.paused, s.header = p, true }

// Backend returns the backend and mode the stored blocks were applied with
// ("" for a new state file, and for one written before they were recorded,
// which only firewalld could have written).
func (s *Store) Backend() (backend, mode string) { return s.backend, s.mode }

// SetBackend records the backend and mode; Save persists them.
func (s *Store) SetBackend(backend, mode string) {
	s.backend, s.mode, s.header = backend, mode, true
}
