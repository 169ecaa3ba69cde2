package firewalld_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
)

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func ents(ps []netip.Prefix) []firewall.Entry {
	out := make([]firewall.Entry, len(ps))
	for i, p := range ps {
		out[i] = firewall.Entry{Prefix: p}
	}
	return out
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// newFake starts a fake firewalld and a Client on it, prepared.
func newFake(t *testing.T, cfg firewalld.Config) (*firewalldtest.Fake, *firewalld.Client) {
	t.Helper()
	fake, addr := firewalldtest.Start(t)
	c := clientOn(t, addr, cfg)
	if err := c.Prepare(ctx(t), nil); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return fake, c
}

// clientOn returns an unprepared Client on the bus at addr.
func clientOn(t *testing.T, addr string, cfg firewalld.Config) *firewalld.Client {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := firewalld.New(conn, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// add adds ps and fails the test unless every one is Applied.
func add(t *testing.T, c firewall.Backend, ps []netip.Prefix) {
	t.Helper()
	rs, err := c.Add(ctx(t), ents(ps))
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	for _, r := range rs {
		if r.Outcome != firewall.Applied {
			t.Fatalf("Add: %v is %v (%v), want applied", r.Prefix, r.Outcome, r.Err)
		}
	}
}

// remove removes ps and fails the test unless every one is Removed.
func remove(t *testing.T, c firewall.Backend, ps []netip.Prefix) {
	t.Helper()
	rs, err := c.Remove(ctx(t), ps)
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	for _, r := range rs {
		if r.Outcome != firewall.Removed {
			t.Fatalf("Remove: %v is %v (%v), want removed", r.Prefix, r.Outcome, r.Err)
		}
	}
}

// syncOK runs Sync and fails the test on a call error.
func syncOK(t *testing.T, c firewall.Backend, desired, owned []netip.Prefix) firewall.SyncResult {
	t.Helper()
	sr, err := c.Sync(ctx(t), ents(desired), owned)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return sr
}

// outcome returns the outcome of p among rs.
func outcome(rs []firewall.Result, p netip.Prefix) firewall.Outcome {
	for _, r := range rs {
		if r.Prefix == p {
			return r.Outcome
		}
	}
	return 0
}
