package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/synguard/synguard/internal/prefix"
)

// Entry is one prefix synguard wants dropped.
type Entry struct {
	// Prefix is canonical (internal/prefix): host bits cleared, mapped IPv4
	// unwrapped.
	Prefix netip.Prefix
	// Expiry is when the block ends. A backend that keeps kernel-side
	// timeouts (nftables) sets one a little past it, so that a responder
	// gone for good cannot leave a block forever; others ignore it. Adding
	// an entry again with a later Expiry renews it. Zero means none.
	Expiry time.Time
}

// Outcome is what a backend did with one prefix.
type Outcome int

// Outcomes of one prefix.
const (
	// Applied: the backend drops the prefix now, as synguard's own entry
	// (added by this call, or held already from an earlier one).
	Applied Outcome = iota + 1
	// Preexisting: the backend dropped the prefix before synguard asked,
	// as an entry that is not synguard's (an operator's own drop source).
	// It is never owned: the caller must never remove it.
	Preexisting
	// Removed: the backend no longer holds synguard's entry for the prefix
	// (removed by this call, or not there).
	Removed
	// Refused: the backend refused this prefix (firewalld's ZONE_CONFLICT,
	// say); Result.Err says why. The other prefixes of the call are
	// unaffected.
	Refused
)

// String names the outcome for logs and metrics.
func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Preexisting:
		return "preexisting"
	case Removed:
		return "removed"
	case Refused:
		return "refused"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Result is the outcome of one prefix of a call.
type Result struct {
	Prefix  netip.Prefix
	Outcome Outcome
	// Err is why a Refused prefix was refused; nil otherwise.
	Err error
}

// SyncResult is what Sync did.
type SyncResult struct {
	// Results has one Result per desired prefix (Applied, Preexisting or
	// Refused) and one per owned prefix that is not desired (Removed or
	// Refused).
	Results []Result
	// Added and Removed count the entries Sync had to change, over every
	// place the backend keeps (runtime and permanent count twice): anything
	// beyond what the caller had queued is a repair.
	Added, Removed int
}

// Description names a backend and its settings, for the status page, the
// metrics' backend label, logs and the state file (which refuses a start
// on another backend's blocks).
type Description struct {
	// Backend is the backend's name as in firewall.backend: "firewalld",
	// "nftables", "memory".
	Backend string
	// Mode is the backend's own variant ("ipset" or "zone" for firewalld),
	// "" where it has none. Entries made in one mode are not seen in another.
	Mode string
	// Where says, for people, where the entries live ("zone drop, ipsets
	// synguard4 and synguard6"; "table inet synguard").
	Where string
}

// String is "backend" or "backend/mode".
func (d Description) String() string {
	if d.Mode == "" {
		return d.Backend
	}
	return d.Backend + "/" + d.Mode
}

// EventKind says what happened to the backend underneath synguard.
type EventKind int

// Event kinds. Each means the backend's entries may be gone or stale: the
// caller runs a Sync.
const (
	// Reloaded: the firewall dropped its runtime entries (firewall-cmd
	// --reload, nft flush ruleset, a deleted table).
	Reloaded EventKind = iota + 1
	// Restarted: the firewall's service started again. The backend
	// prepares the new instance (firewalld in zone mode reloads to clear a
	// crashed instance's stale kernel rules) before sending it, whether it
	// noticed the restart by a signal or in a call; if preparing failed,
	// Detail says so and the backend's next call prepares it again before
	// it changes anything (or fails).
	Restarted
	// Stopped: the firewall's service went away; entries are kept in the
	// state and restored when it is back (a Restarted event follows).
	Stopped
)

// String names the kind for logs.
func (k EventKind) String() string {
	switch k {
	case Reloaded:
		return "reloaded"
	case Restarted:
		return "restarted"
	case Stopped:
		return "stopped"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a change of the firewall that synguard did not make.
type Event struct {
	Kind EventKind
	// Time is when the backend noticed it.
	Time time.Time
	// Detail says how it was noticed, for the log ("NameOwnerChanged",
	// "new bus owner :1.42").
	Detail string
}

// Backend drops traffic from prefixes. Every method is idempotent and safe
// for concurrent use; a method returns an error only when the backend as a
// whole could not be asked or answered (unreachable, timed out, not
// prepared): the caller then knows nothing of that call's prefixes and
// retries with Sync. A problem with one prefix is its Result, never the
// call's error.
//
// Ownership: synguard removes only its own entries. Add reports Preexisting
// for a prefix the backend held before the call as an entry that is not
// synguard's; an entry is synguard's when an earlier Add applied it, when
// Prepare listed it in held, or when Sync listed it in owned. A caller that
// does not know whether an earlier Add went through (an error, a crash)
// retries with Sync and lists the prefix in owned, so that its own entry is
// not mistaken for a preexisting one. A backend whose entries live apart
// from the operator's (firewalld's ipsets) never reports Preexisting.
//
// Overlaps: the caller may ask for overlapping prefixes. The backend drops
// every address of every Applied prefix, and may hold a prefix that lies
// inside a wider held one only as part of the wider one (ipset hash:net
// and nftables interval sets keep a minimal cover). Add and Remove act on
// the given prefixes only: after Remove of a wider prefix, the narrower
// desired ones it covered are back only after the next Sync, which the
// caller runs whenever a removed prefix overlaps an active block. Sync
// always leaves the exact cover of desired.
type Backend interface {
	// Describe names the backend and its settings.
	Describe() Description
	// Prepare checks that the firewall answers and makes what the backend
	// needs (zone binding, sets, table). It runs at start and after a
	// failure. held lists the prefixes the firewall confirmed to synguard
	// before (from the state file): they are synguard's own, and a backend
	// may use them to notice that the firewall restarted while synguard was
	// down and prepare it as after a Restarted event. Add, Remove and Sync
	// return ErrNotPrepared before it succeeded; List and Purge do not
	// need it.
	Prepare(ctx context.Context, held []netip.Prefix) error
	// Add drops every entry's prefix: one Result per entry.
	Add(ctx context.Context, entries []Entry) ([]Result, error)
	// Remove lifts synguard's entries for the given prefixes: one Result
	// per prefix. A Preexisting entry is never passed (the caller never
	// owned it); should one be, it stays and is reported Preexisting. A
	// prefix not there is Removed.
	Remove(ctx context.Context, ps []netip.Prefix) ([]Result, error)
	// Sync makes the firewall hold every desired entry and none of the
	// owned prefixes that are not desired, leaving everything else alone.
	Sync(ctx context.Context, desired []Entry, owned []netip.Prefix) (SyncResult, error)
	// List returns the prefixes the firewall drops now in the places the
	// backend manages, synguard's and preexisting alike.
	List(ctx context.Context) ([]netip.Prefix, error)
	// Purge removes every owned prefix and whatever the backend made for
	// itself (sets, table), for uninstall and emergencies; entries that are
	// not synguard's stay.
	Purge(ctx context.Context, owned []netip.Prefix) error
	// Watch calls notify for every change of the firewall that synguard did
	// not make, until ctx ends; it resubscribes by itself when its source
	// of events breaks (and then sends Reloaded, since events may have been
	// missed), and returns only ctx's error. A restart a call notices
	// first is sent to every running Watch. notify is called from Watch's
	// goroutine, in order, and must not block for long.
	Watch(ctx context.Context, notify func(Event)) error
}

// ErrNotPrepared is returned by a backend called before a successful
// Prepare (or after an event undid it).
var ErrNotPrepared = errors.New("firewall backend not prepared")

// Prefixes returns the prefixes of entries, in order.
func Prefixes(entries []Entry) []netip.Prefix {
	out := make([]netip.Prefix, len(entries))
	for i, e := range entries {
		out[i] = e.Prefix
	}
	return out
}

// Failed returns the results whose outcome is Refused.
func Failed(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if r.Outcome == Refused {
			out = append(out, r)
		}
	}
	return out
}

// Why a prefix is refused before any backend sees it.
var (
	ErrInvalidPrefix = errors.New("not a valid prefix")
	ErrWholeFamily   = errors.New("would block a whole address family")
)

// Check returns p canonical (internal/prefix), or why no backend blocks
// it: every backend refuses such a prefix as a Refused result of its own.
func Check(p netip.Prefix) (netip.Prefix, error) {
	cp := prefix.Canonical(p)
	switch {
	case !cp.IsValid():
		return cp, fmt.Errorf("%v: %w", p, ErrInvalidPrefix)
	case cp.Bits() == 0:
		return cp, fmt.Errorf("%v: %w", cp, ErrWholeFamily)
	}
	return cp, nil
}
