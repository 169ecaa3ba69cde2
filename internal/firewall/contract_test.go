package firewall_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewall/firewalltest"
	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/firewalld/firewalldtest"
	"github.com/synguard/synguard/internal/lab"
)

// TestContract runs the contract suite on every backend and setup: the
// in-memory backend, the firewalld Client on the fake bus and on a real
// firewalld (root), in ipset and zone mode. A new backend adds its setups
// here.
func TestContract(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		firewalltest.Run(t, func(t *testing.T) firewalltest.Setup {
			m := firewall.NewMemory()
			return firewalltest.Setup{Backend: m, Under: memUnder{m}, Expiry: m.Expiry, Within: 5 * time.Second}
		})
	})
	for _, mode := range []firewalld.Mode{firewalld.ModeIPSet, firewalld.ModeZone} {
		t.Run("firewalld-fake/"+string(mode), func(t *testing.T) {
			firewalltest.Run(t, func(t *testing.T) firewalltest.Setup {
				fake, addr := firewalldtest.Start(t)
				c := newClient(t, addr, mode)
				return firewalltest.Setup{Backend: c, Under: fakeUnder{fake, mode}, TakesForeign: mode == firewalld.ModeIPSet, Within: 10 * time.Second}
			})
		})
		t.Run("firewalld-real/"+string(mode), func(t *testing.T) {
			lab.NeedRoot(t)
			firewalltest.Run(t, func(t *testing.T) firewalltest.Setup {
				l := lab.Start(t, "sgc", "../../test/lab/firewalld.sh")
				c := newClient(t, l.BusAddr, mode)
				return firewalltest.Setup{Backend: c, Under: realUnder{l, mode}, TakesForeign: mode == firewalld.ModeIPSet, Within: time.Minute}
			})
		})
	}
}

func newClient(t *testing.T, addr string, mode firewalld.Mode) *firewalld.Client {
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cfg := firewalld.DefaultConfig()
	cfg.Mode = mode
	c, err := firewalld.New(conn, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// memUnder plays the firewall under a Memory backend.
type memUnder struct{ m *firewall.Memory }

func (u memUnder) AddForeign(p netip.Prefix) error { u.m.Preexisting(p); return nil }
func (u memUnder) HasForeign(p netip.Prefix) (bool, error) {
	all, err := u.m.List(context.Background())
	return slices.Contains(all, p) && !slices.Contains(u.m.Owned(), p), err
}
func (u memUnder) Reload() error  { u.m.Reload(); return nil }
func (u memUnder) Restart() error { u.m.Restart(); return nil }
func (u memUnder) Stop() error    { u.m.SetDown(errors.New("memory backend down")); return nil }
func (u memUnder) Start() error   { u.m.SetDown(nil); return nil }
func (u memUnder) Refuse(p netip.Prefix) error {
	u.m.Refuse(p, errors.New("refused by the test"))
	return nil
}

// fakeUnder plays the firewall under the Client with the fake firewalld.
type fakeUnder struct {
	f    *firewalldtest.Fake
	mode firewalld.Mode
}

func (u fakeUnder) AddForeign(p netip.Prefix) error {
	u.f.AddRuntimeSource("drop", p.String())
	return nil
}
func (u fakeUnder) HasForeign(p netip.Prefix) (bool, error) {
	return slices.Contains(u.f.RuntimeSources("drop"), p.String()), nil
}
func (u fakeUnder) Reload() error  { u.f.Reload(); return nil }
func (u fakeUnder) Restart() error { u.f.Restart(); return nil }
func (u fakeUnder) Stop() error    { u.f.Stop(); return nil }
func (u fakeUnder) Start() error   { u.f.Start(); return nil }
func (u fakeUnder) Refuse(p netip.Prefix) error {
	if u.mode == firewalld.ModeZone {
		// Bound to another zone: firewalld answers ZONE_CONFLICT.
		u.f.AddRuntimeSource("trusted", p.String())
		return nil
	}
	u.f.Refuse(p.String(), firewalld.CodeInvalidEntry)
	return nil
}

// realUnder acts on the lab's real firewalld with firewall-cmd.
type realUnder struct {
	l    *lab.Lab
	mode firewalld.Mode
}

func (u realUnder) fw(fn string, args ...string) error {
	if out, err := u.l.FwOut(fn, args...); err != nil {
		return fmt.Errorf("%s %s: %v: %s", fn, strings.Join(args, " "), err, out)
	}
	return nil
}

func (u realUnder) AddForeign(p netip.Prefix) error {
	return u.fw("fw_cmd", "--zone=drop", "--add-source="+p.String())
}
func (u realUnder) HasForeign(p netip.Prefix) (bool, error) {
	out, err := u.l.FwOut("fw_cmd", "--zone=drop", "--query-source="+p.String())
	switch strings.TrimSpace(out) {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, fmt.Errorf("query source %s: %v: %s", p, err, out)
}
func (u realUnder) Reload() error  { return u.fw("fw_reload") }
func (u realUnder) Restart() error { return u.fw("fw_restart") }
func (u realUnder) Stop() error    { return u.fw("fw_stop") }
func (u realUnder) Start() error   { return u.fw("fw_start") }
func (u realUnder) Refuse(p netip.Prefix) error {
	if u.mode == firewalld.ModeZone {
		return u.fw("fw_cmd", "--zone=trusted", "--add-source="+p.String())
	}
	return fmt.Errorf("%w: a real firewalld refuses no valid entry of synguard's own ipset", firewalltest.ErrCannot)
}
