package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// slowCut is a CutFunc whose first call waits until released, recording
// every call's prefixes.
type slowCut struct {
	mu      sync.Mutex
	calls   [][]netip.Prefix
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newSlowCut() *slowCut {
	return &slowCut{entered: make(chan struct{}), release: make(chan struct{})}
}

func (s *slowCut) cut(ps []netip.Prefix) (int, error) {
	s.mu.Lock()
	s.calls = append(s.calls, slices.SortedFunc(slices.Values(ps), func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) }))
	first := len(s.calls) == 1
	s.mu.Unlock()
	if first {
		s.once.Do(func() { close(s.entered) })
		<-s.release
	}
	return len(ps), nil
}

func prepared(t *testing.T) *Memory {
	t.Helper()
	m := NewMemory()
	if err := m.Prepare(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return m
}

func entries(ps ...string) []Entry {
	out := make([]Entry, len(ps))
	for i, p := range ps {
		out[i] = Entry{Prefix: netip.MustParsePrefix(p)}
	}
	return out
}

// TestCutAfterAdd: Add returns with the drop in place while the cut of its
// prefixes still runs (the first drop never waits for a cut), and the
// prefixes applied meanwhile are cut together in one next cut.
func TestCutAfterAdd(t *testing.T) {
	s := newSlowCut()
	b := WithCut(prepared(t), s.cut, nil).(*cutting)
	ctx := context.Background()
	added := make(chan error, 1)
	go func() {
		_, err := b.Add(ctx, entries("198.51.100.32/27"))
		added <- err
	}()
	select {
	case err := <-added:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(s.release)
		t.Fatal("Add waited for the cut of its prefixes")
	}
	<-s.entered
	if got, _ := b.List(ctx); len(got) != 1 {
		t.Fatalf("the firewall holds %v while the cut runs, want the block", got)
	}
	for i := range 3 {
		if _, err := b.Add(ctx, entries(fmt.Sprintf("203.0.113.%d/32", i), fmt.Sprintf("198.18.%d.0/29", i))); err != nil {
			t.Fatal(err)
		}
	}
	close(s.release)
	b.wait()
	if len(s.calls) != 2 || len(s.calls[1]) != 6 {
		t.Fatalf("cuts %v: want the first, then the 6 prefixes applied during it in one", s.calls)
	}
}

// TestCutOnlyApplied: a refused or preexisting prefix, and a failed call,
// cut nothing.
func TestCutOnlyApplied(t *testing.T) {
	m := prepared(t)
	m.Preexisting(netip.MustParsePrefix("192.0.2.0/24"))
	m.Refuse(netip.MustParsePrefix("198.51.100.0/24"), errors.New("ZONE_CONFLICT"))
	var mu sync.Mutex
	var cut []netip.Prefix
	b := WithCut(m, func(ps []netip.Prefix) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		cut = append(cut, ps...)
		return 0, nil
	}, nil).(*cutting)
	if _, err := b.Add(context.Background(), entries("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")); err != nil {
		t.Fatal(err)
	}
	m.SetDown(errors.New("down"))
	if _, err := b.Add(context.Background(), entries("198.18.0.0/29")); err == nil {
		t.Fatal("Add of a backend that is down succeeded")
	}
	b.wait()
	if fmt.Sprint(cut) != "[203.0.113.0/24]" {
		t.Fatalf("cut %v, want only the applied 203.0.113.0/24", cut)
	}
}

// TestCutBounded: while a cut runs, at most MaxPendingCut prefixes wait
// for the next one.
func TestCutBounded(t *testing.T) {
	s := newSlowCut()
	c := WithCut(prepared(t), s.cut, nil).(*cutting)
	c.schedule([]netip.Prefix{netip.MustParsePrefix("198.51.100.32/27")})
	<-s.entered
	ps := make([]netip.Prefix, 0, MaxPendingCut+10)
	for i := range MaxPendingCut + 10 {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, byte(18 + i>>16), byte(i >> 8), byte(i)}), 32))
	}
	c.schedule(ps)
	c.mu.Lock()
	n := len(c.pending)
	c.mu.Unlock()
	close(s.release)
	c.wait()
	if n != MaxPendingCut {
		t.Fatalf("%d prefixes waiting for a cut, want the bound %d", n, MaxPendingCut)
	}
}
