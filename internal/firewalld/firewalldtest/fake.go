package firewalldtest

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
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
	delays      map[string]time.Duration
	calls       map[string]int
}

// Start runs a private dbus-daemon, exports a fresh Fake on it under
// firewalld's bus name (running, stock zones, no sources or ipsets) and
// returns it with the bus address clients connect to (dbus.Connect). The
// test's cleanup stops both.
func Start(t testing.TB) (*Fake, string) {
	t.Helper()
	addr := StartBus(t)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("fake firewalld: connect to %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	f := &Fake{
		t: t, conn: conn, addr: addr, state: "RUNNING",
		rtSources: map[string][]string{}, permSources: map[string][]string{},
		rtIPSets: map[string]*ipset{}, permIPSets: map[string]*ipset{},
		zonePaths: map[string]dbus.ObjectPath{}, ipsetPaths: map[string]dbus.ObjectPath{},
		fails: map[string]*failure{}, delays: map[string]time.Duration{}, calls: map[string]int{},
	}
	for i, z := range stockZones {
		f.permSources[z] = nil
		f.zonePaths[z] = dbus.ObjectPath(fmt.Sprintf("%s/zone/%d", firewalld.ConfigPath, i))
	}
	if err := f.export(); err != nil {
		t.Fatalf("fake firewalld: export: %v", err)
	}
	f.Start()
	return f, addr
}

// Addr returns the private bus's address.
func (f *Fake) Addr() string { return f.addr }

func (f *Fake) export() error {
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
	for z, p := range f.zonePaths {
		exps = append(exps, exp{&configZone{f, z}, configZoneMap, p, firewalld.InterfaceConfigZone})
	}
	for _, e := range exps {
		if err := f.conn.ExportWithMap(e.v, e.m, e.path, e.iface); err != nil {
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
	r, err := f.conn.RequestName(firewalld.BusName, dbus.NameFlagDoNotQueue)
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
	if _, err := f.conn.ReleaseName(firewalld.BusName); err != nil {
		f.t.Errorf("fake firewalld: release %s: %v", firewalld.BusName, err)
	}
}

func (f *Fake) loadPermanent() {
	f.rtSources = map[string][]string{}
	for z, ss := range f.permSources {
		f.rtSources[z] = slices.Clone(ss)
	}
	f.rtIPSets = map[string]*ipset{}
	for n, s := range f.permIPSets {
		f.rtIPSets[n] = s.clone()
	}
}

func (f *Fake) emitReloaded() {
	// firewalld floods config.*Added signals around a reload: a client must
	// not care. A few stand in for the ~700.
	for _, z := range []string{"block", "drop", "public"} {
		_ = f.conn.Emit(firewalld.ConfigPath, firewalld.InterfaceConfig+".ZoneAdded", z)
	}
	_ = f.conn.Emit(firewalld.ObjectPath, firewalld.Interface+"."+firewalld.SignalReloaded)
}

// ---- inspection --------------------------------------------------------------

// RuntimeSources returns the zone's runtime sources, sorted.
func (f *Fake) RuntimeSources(zone string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sorted(f.rtSources[zone])
}

// PermanentSources returns the zone's permanent sources, sorted.
func (f *Fake) PermanentSources(zone string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sorted(f.permSources[zone])
}

// RuntimeEntries returns the runtime ipset's entries, sorted, and whether
// the set is loaded.
func (f *Fake) RuntimeEntries(name string) ([]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.rtIPSets[name]
	if !ok {
		return nil, false
	}
	return sorted(s.entries), true
}

// PermanentIPSet returns the permanent ipset's settings and entries, and
// whether it exists.
func (f *Fake) PermanentIPSet(name string) (IPSetSettings, []string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.permIPSets[name]
	if !ok {
		return IPSetSettings{}, nil, false
	}
	return s.clone().settings, sorted(s.entries), true
}

// AddRuntimeSource puts a source in the zone's runtime as another tool
// would, without a signal (for tests that the client leaves it alone).
func (f *Fake) AddRuntimeSource(zone, source string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rtSources[zone] = append(f.rtSources[zone], source)
}

// AddPermanentSource puts a source in the zone's permanent config.
func (f *Fake) AddPermanentSource(zone, source string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.permSources[zone] = append(f.permSources[zone], source)
}

// Blocked reports whether traffic from a is dropped: a runtime source of
// the drop or block zone, an entry of an ipset bound to one, or a stale
// rule a crash left behind.
func (f *Fake) Blocked(a netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.blockedLocked(true) {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	for _, p := range f.stale {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// Stale returns what a crash left dropping until the next reload.
func (f *Fake) Stale() []netip.Prefix {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.stale)
}

// blockedLocked returns the ranges the drop zones block, through ipsets too
// if withSets.
func (f *Fake) blockedLocked(withSets bool) []netip.Prefix {
	var out []netip.Prefix
	for _, z := range dropZones {
		for _, s := range f.rtSources[z] {
			if name, ok := strings.CutPrefix(s, "ipset:"); ok {
				if set := f.rtIPSets[name]; set != nil && withSets {
					for _, e := range set.entries {
						if p, ok := parseNet(e); ok {
							out = append(out, p.Masked())
						}
					}
				}
				continue
			}
			if p, ok := parseNet(s); ok {
				out = append(out, p.Masked())
			}
		}
	}
	return out
}

func sorted(ss []string) []string {
	out := slices.Clone(ss)
	sort.Strings(out)
	return out
}

// parseNet parses an address or a network, host bits allowed (as Python's
// ipaddress.ip_network(strict=False) does for firewalld).
func parseNet(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p, err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// ---- call plumbing -------------------------------------------------------------

func fwErr(code, format string, args ...any) *dbus.Error {
	return dbus.NewError(firewalld.ExceptionName, []any{code + ": " + fmt.Sprintf(format, args...)})
}

// enter counts a call, applies its delay and injected failure, and locks.
// The caller must unlock when it returns nil.
func (f *Fake) enter(method string) *dbus.Error {
	f.mu.Lock()
	f.calls[method]++
	d := f.delays[method]
	var e *dbus.Error
	if fl := f.fails[method]; fl != nil && fl.left != 0 {
		if fl.left > 0 {
			fl.left--
		}
		e = fwErr(fl.code, "%s", fl.msg)
	}
	f.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
	if e != nil {
		return e
	}
	f.mu.Lock()
	return nil
}

func (f *Fake) zoneExists(zone string) bool {
	_, ok := f.zonePaths[zone]
	return ok
}

// sourceZone returns the runtime zone holding source, if any.
func (f *Fake) sourceZone(src string) string {
	for z, ss := range f.rtSources {
		if slices.Contains(ss, src) {
			return z
		}
	}
	return ""
}

func checkSource(f *Fake, src string, runtime bool) *dbus.Error {
	if name, ok := strings.CutPrefix(src, "ipset:"); ok {
		sets := f.permIPSets
		if runtime {
			sets = f.rtIPSets
		}
		if sets[name] == nil {
			return fwErr(firewalld.CodeInvalidIPSet, "%s", name)
		}
		return nil
	}
	if _, ok := parseNet(src); !ok {
		return fwErr(firewalld.CodeInvalidAddr, "%s", src)
	}
	return nil
}

// normaliseEntry is firewalld's normalize_ipset_entry: networks lose their
// host bits, addresses stay as given.
func normaliseEntry(e string) string {
	if p, err := netip.ParsePrefix(e); err == nil {
		return p.Masked().String()
	}
	return e
}

func checkEntry(s *ipset, e string) *dbus.Error {
	p, ok := parseNet(e)
	if !ok {
		return fwErr(firewalld.CodeInvalidEntry, "invalid address '%s'", e)
	}
	if p.Addr().Is4() != (s.family() == "inet") {
		return fwErr(firewalld.CodeInvalidEntry, "entry '%s' does not match family %s", e, s.family())
	}
	return nil
}

func overlap(entries []string) *dbus.Error {
	ps := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		if p, ok := parseNet(e); ok {
			ps = append(ps, p.Masked())
		}
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	for i := 1; i < len(ps); i++ {
		if ps[i-1].Overlaps(ps[i]) {
			return fwErr(firewalld.CodeInvalidEntry, "Entry '%s' overlaps with existing entry '%s'", ps[i], ps[i-1])
		}
	}
	return nil
}

func maxElem(s *ipset) int {
	if n, err := strconv.Atoi(s.settings.Options["maxelem"]); err == nil && n > 0 {
		return n
	}
	return 65536
}
