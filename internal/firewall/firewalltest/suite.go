package firewalltest

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/synguard/synguard/internal/firewall"
)

// Under acts on the firewall underneath a backend, as an operator or the
// system would, without the backend knowing. A method the setup cannot do
// returns an error wrapping ErrCannot, saying why; the cases that need it
// are skipped for that setup.
type Under interface {
	// AddForeign makes p an operator's own drop entry.
	AddForeign(p netip.Prefix) error
	// HasForeign reports whether the operator's own entry for p is there.
	HasForeign(p netip.Prefix) (bool, error)
	// Reload drops the firewall's runtime entries (firewall-cmd --reload).
	Reload() error
	// Restart stops and starts the firewall's service.
	Restart() error
	// Stop makes the firewall unreachable; Start brings it back.
	Stop() error
	Start() error
	// Refuse makes the firewall refuse p, and only p.
	Refuse(p netip.Prefix) error
}

// ErrCannot is wrapped by an Under method the setup cannot do.
var ErrCannot = errors.New("this setup cannot")

// Setup is one backend, fresh and not yet prepared, over its own firewall.
type Setup struct {
	Backend firewall.Backend
	Under   Under
	// TakesForeign says the backend keeps its entries apart from the
	// operator's (ipsets of its own), so that Add of a prefix the operator
	// drops too is Applied, as synguard's own entry beside the operator's;
	// otherwise such an Add is Preexisting.
	TakesForeign bool
	// Expiry returns the expiry the backend holds for p, for a backend that
	// keeps one; nil for a backend that ignores expiry.
	Expiry func(p netip.Prefix) (time.Time, bool)
	// Within bounds waiting for an event or a recovery.
	Within time.Duration
}

// Prefixes of the suite: documentation ranges only.
var (
	p4     = netip.MustParsePrefix("198.51.100.32/27")
	p6     = netip.MustParsePrefix("2001:db8:5:1::/64")
	wide   = netip.MustParsePrefix("203.0.113.0/24")
	narrow = netip.MustParsePrefix("203.0.113.64/27")
	other  = netip.MustParsePrefix("192.0.2.128/25")
)

// Run runs every case of the contract, each on a fresh setup from
// newSetup.
func Run(t *testing.T, newSetup func(t *testing.T) Setup) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, s Setup)
	}{
		{"AddListRemove", addListRemove},
		{"Idempotent", idempotent},
		{"RefusedPrefixAlone", refusedAlone},
		{"PreexistingNeverTouched", preexisting},
		{"Overlap", overlap},
		{"SyncRepairsReload", syncRepairs},
		{"Events", events},
		{"Unreachable", unreachable},
		{"Expiry", expiry},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSetup(t)
			if s.Within == 0 {
				s.Within = 30 * time.Second
			}
			if err := s.Backend.Prepare(ctx(t), nil); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			c.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// need fails the test on err, or skips it when the setup cannot.
func need(t *testing.T, what string, err error) {
	t.Helper()
	if errors.Is(err, ErrCannot) {
		t.Skipf("%s: %v", what, err)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func entries(ps ...netip.Prefix) []firewall.Entry {
	out := make([]firewall.Entry, len(ps))
	for i, p := range ps {
		out[i] = firewall.Entry{Prefix: p}
	}
	return out
}

// outcomes checks rs against want, in order.
func outcomes(t *testing.T, what string, rs []firewall.Result, want ...firewall.Outcome) {
	t.Helper()
	if len(rs) != len(want) {
		t.Fatalf("%s: %d results %v, want %d", what, len(rs), rs, len(want))
	}
	for i, r := range rs {
		if r.Outcome != want[i] {
			t.Errorf("%s: %v is %v (err %v), want %v", what, r.Prefix, r.Outcome, r.Err, want[i])
		}
		if (r.Outcome == firewall.Refused) != (r.Err != nil) {
			t.Errorf("%s: %v is %v with err %v: only a refusal carries one", what, r.Prefix, r.Outcome, r.Err)
		}
	}
}

func list(t *testing.T, b firewall.Backend) []netip.Prefix {
	t.Helper()
	ps, err := b.List(ctx(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return ps
}

// holds checks which of ps List shows.
func holds(t *testing.T, what string, b firewall.Backend, in []netip.Prefix, out []netip.Prefix) {
	t.Helper()
	got := list(t, b)
	for _, p := range in {
		if !slices.Contains(got, p) {
			t.Errorf("%s: List %v lacks %v", what, got, p)
		}
	}
	for _, p := range out {
		if slices.Contains(got, p) {
			t.Errorf("%s: List %v holds %v", what, got, p)
		}
	}
}
