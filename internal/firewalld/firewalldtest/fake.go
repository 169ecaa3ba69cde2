package firewalldtest

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewalld"
)

// Zones the fake knows from the start, as a stock firewalld does; the
// default zone is public.
var stockZones = []string{"block", "dmz", "drop", "external", "home", "internal", "public", "trusted", "work"}

// dropZones are the zones whose sources Blocked treats as dropped.
var dropZones = []string{"block", "drop"}

// IPSetSettings mirrors firewalld's ipset settings tuple (ssssa{ss}as).
type IPSetSettings = firewalld.IPSetSettings

type ipset struct {
	settings IPSetSettings
	entries  []string
}

func (s *ipset) clone() *ipset {
	c := &ipset{settings: s.settings, entries: slices.Clone(s.entries)}
	c.settings.Options = make(map[string]string, len(s.settings.Options))
	for k, v := range s.settings.Options {
		c.settings.Options[k] = v
	}
	c.settings.Entries = nil
	return c
}

func (s *ipset) family() string {
	if s.settings.Options["family"] == "inet6" {
		return "inet6"
	}
	return "inet"
}

type failure struct {
	code, msg string
	left      int // < 0: forever
}

// Fake is an in-memory firewalld on a private bus. Its methods are safe for
// concurrent use by the test while the client calls it.
type Fake struct {
	t    testing.TB
	conn *dbus.Conn
	addr string

	mu          sync.Mutex
	up          bool
	state       string
	rtSources   map[string][]string // zone -> sources, in the order added
	permSources map[string][]string
	rtIPSets    map[string]*ipset
	permIPSets  map[string]*ipset
	stale       []netip.Prefix // what a crash left dropping in the "kernel"
	zonePaths   map[string]dbus.ObjectPath
	ipsetPaths  map[string]dbus.ObjectPath
	nextIPSet   int
	fails       map[string]*failure
	refused     map[string]string // source or entry -> code
	delays      map[string]time.Duration
	calls       map[string]int
	// noIPSetLoad: a reload leaves the permanent ipsets out of the
	// runtime, as firewalld 0.9 does without the ipset tool.
	noIPSetLoad bool
}

// NoIPSetLoad makes reloads leave the permanent ipsets out of the runtime
// (on), as firewalld 0.9.3 on Debian 11 does without the ipset package.
func (f *Fake) NoIPSetLoad(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noIPSetLoad = on
}

// Start runs a private dbus-daemon, exports a fresh Fake on it under
// firewalld's bus name (running, stock zones, no sources or ipsets) and
// returns it with the bus address clients connect to (dbus.Connect). The
// test's cleanup stops both.
func Start(t testing.TB) (*Fake, string) {
	t.Helper()
	addr := StartBus(t)
	f := &Fake{
		t: t, addr: addr, state: "RUNNING",
		rtSources: map[string][]string{}, permSources: map[string][]string{},
		rtIPSets: map[string]*ipset{}, permIPSets: map[string]*ipset{},
		zonePaths: map[string]dbus.ObjectPath{}, ipsetPaths: map[string]dbus.ObjectPath{},
		fails: map[string]*failure{}, refused: map[string]string{}, delays: map[string]time.Duration{}, calls: map[string]int{},
	}
	for i, z := range stockZones {
		f.permSources[z] = nil
		f.zonePaths[z] = dbus.ObjectPath(fmt.Sprintf("%s/zone/%d", firewalld.ConfigPath, i))
	}
	t.Cleanup(func() {
		if c := f.bus(); c != nil {
			_ = c.Close()
		}
	})
	f.Start()
	return f, addr
}

// Addr returns the private bus's address.
func (f *Fake) Addr() string { return f.addr }

// bus is the connection of the running (or last) instance.
func (f *Fake) bus() *dbus.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn
}

// export exports every object on conn, a new instance's connection.
func (f *Fake) export(conn *dbus.Conn) error {
	type exp struct {
		v     any
		m     map[string]string
		path  dbus.ObjectPath
		iface string
	}
	exps := []exp{
		{&mainIface{f}, map[string]string{"Reload": "reload", "CompleteReload": "completeReload", "GetDefaultZone": "getDefaultZone"}, firewalld.ObjectPath, firewalld.Interface},
		{&propsIface{f}, nil, firewalld.ObjectPath, "org.freedesktop.DBus.Properties"},
		{&zoneIface{f}, map[string]string{"GetZones": "getZones", "GetSources": "getSources", "AddSource": "addSource", "RemoveSource": "removeSource", "QuerySource": "querySource", "GetZoneOfSource": "getZoneOfSource"}, firewalld.ObjectPath, firewalld.InterfaceZone},
		{&ipsetIface{f}, map[string]string{"GetIPSets": "getIPSets", "QueryIPSet": "queryIPSet", "GetEntries": "getEntries", "SetEntries": "setEntries", "AddEntry": "addEntry", "RemoveEntry": "removeEntry"}, firewalld.ObjectPath, firewalld.InterfaceIPSet},
		{&configIface{f}, map[string]string{"GetZoneNames": "getZoneNames", "GetZoneByName": "getZoneByName", "GetIPSetNames": "getIPSetNames", "GetIPSetByName": "getIPSetByName", "AddIPSet": "addIPSet"}, firewalld.ConfigPath, firewalld.InterfaceConfig},
	}
	f.mu.Lock()
	for z, p := range f.zonePaths {
		exps = append(exps, exp{&configZone{f, z}, configZoneMap, p, firewalld.InterfaceConfigZone})
	}
	for n, p := range f.ipsetPaths {
		exps = append(exps, exp{&configIPSet{f, n}, configIPSetMap, p, firewalld.InterfaceConfigIPSet})
	}
	f.mu.Unlock()
	for _, e := range exps {
		if err := conn.ExportWithMap(e.v, e.m, e.path, e.iface); err != nil {
			return err
		}
	}
	return nil
}

var configZoneMap = map[string]string{"GetSources": "getSources", "AddSource": "addSource", "RemoveSource": "removeSource", "QuerySource": "querySource"}
var configIPSetMap = map[string]string{"GetSettings": "getSettings", "GetEntries": "getEntries", "SetEntries": "setEntries", "AddEntry": "addEntry", "RemoveEntry": "removeEntry", "Remove": "remove"}

// ---- test controls ---------------------------------------------------------

// FailNext makes the next n calls of method answer firewalld's error with
// code (n < 0: every call until ClearFailures). method is the interface
// suffix and member, as "zone.addSource", "ipset.setEntries",
// "config.zone.addSource", "config.ipset.setEntries", "config.addIPSet",
// "reload" or "state" (the state property).
func (f *Fake) FailNext(method, code string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[method] = &failure{code: code, msg: "injected by firewalldtest", left: n}
}

// Refuse makes every add of the source or ipset entry s (as the client
// writes it: canonical) answer firewalld's error with code, in the runtime
// and the permanent config, setEntries included; an empty code accepts it
// again. It stands in for what makes firewalld refuse one prefix and not
// its neighbours.
func (f *Fake) Refuse(s, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if code == "" {
		delete(f.refused, s)
		return
	}
	f.refused[s] = code
}

// ClearFailures removes every injected failure.
func (f *Fake) ClearFailures() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = map[string]*failure{}
}

// SetDelay makes every call of method take at least d (0 removes it).
func (f *Fake) SetDelay(method string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delays[method] = d
}

// SetState sets the state property (RUNNING, INIT, FAILED).
func (f *Fake) SetState(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = s
}

// Calls returns how many times method was called (see FailNext for names).
func (f *Fake) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// ResetCalls zeroes every call counter.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = map[string]int{}
}

// Reload does what `firewall-cmd --reload` does: the runtime becomes the
// permanent config (runtime sources and entries are lost, stale rules of a
// crash cleared), then Reloaded is emitted.
func (f *Fake) Reload() {
	f.mu.Lock()
	f.loadPermanent()
	f.stale = nil
	f.mu.Unlock()
	f.emitReloaded()
}

// Stop is a clean stop: firewalld leaves the bus and removes its rules.
func (f *Fake) Stop() {
	f.mu.Lock()
	f.stopLocked()
	f.mu.Unlock()
	f.releaseName()
}

// Crash is a SIGKILL: firewalld leaves the bus and forgets its runtime, but
// the ranges it blocked as zone sources stay blocked (Blocked) until the
// next reload, as their nftables rules do. Ipset entries do not stay: a
// start re-creates the sets empty (measured on firewalld 1.3.3).
func (f *Fake) Crash() {
	f.mu.Lock()
	f.stale = append(f.stale, f.blockedLocked(false)...)
	f.stopLocked()
	f.mu.Unlock()
	f.releaseName()
}

// Start (re)starts a stopped or crashed fake: the runtime becomes the
// permanent config and firewalld takes its bus name again.
func (f *Fake) Start() {
	f.mu.Lock()
	if f.up {
		f.mu.Unlock()
		return
	}
	f.loadPermanent()
	f.up = true
	f.mu.Unlock()
	// A connection of its own per instance, as a new firewalld process has:
	// clients tell a restart by the new unique name.
	conn, err := dbus.Connect(f.addr)
	if err != nil {
		f.t.Errorf("fake firewalld: connect to %s: %v", f.addr, err)
		return
	}
	if err := f.export(conn); err != nil {
		f.t.Errorf("fake firewalld: export: %v", err)
	}
	f.mu.Lock()
	f.conn = conn
	f.mu.Unlock()
	r, err := conn.RequestName(firewalld.BusName, dbus.NameFlagDoNotQueue)
	if err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		// Errorf, not Fatalf: tests restart the fake from other goroutines.
		f.t.Errorf("fake firewalld: take %s: reply %v, %v", firewalld.BusName, r, err)
	}
}

// Restart is Stop then Start.
func (f *Fake) Restart() { f.Stop(); f.Start() }

func (f *Fake) stopLocked() {
	f.up = false
	f.rtSources = map[string][]string{}
	f.rtIPSets = map[string]*ipset{}
}

func (f *Fake) releaseName() {
	conn := f.bus()
	if _, err := conn.ReleaseName(firewalld.BusName); err != nil {
		f.t.Errorf("fake firewalld: release %s: %v", firewalld.BusName, err)
	}
	// The process is gone: its unique name too.
	_ = conn.Close()
}

func (f *Fake) loadPermanent() {
	f.rtSources = map[string][]string{}
	for z, ss := range f.permSources {
		f.rtSources[z] = slices.Clone(ss)
	}
	f.rtIPSets = map[string]*ipset{}
	if f.noIPSetLoad {
		return
	}
	for n, s := range f.permIPSets {
		f.rtIPSets[n] = s.clone()
	}
}

func (f *Fake) emitReloaded() {
	// firewalld floods config.*Added signals around a reload: a client must
	// not care. A few stand in for the ~700.
	conn := f.bus()
	for _, z := range []string{"block", "drop", "public"} {
		_ = conn.Emit(firewalld.ConfigPath, firewalld.InterfaceConfig+".ZoneAdded", z)
	}
	_ = conn.Emit(firewalld.ObjectPath, firewalld.Interface+"."+firewalld.SignalReloaded)
}
