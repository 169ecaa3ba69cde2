package firewalldtest

import (
	"fmt"
	"slices"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewalld"
)

// Each type below is one exported D-Bus interface; only its methods are
// visible on the bus. Every method counts itself, applies delays and
// injected failures (enter), then works under the Fake's lock.

type mainIface struct{ f *Fake }

func (m *mainIface) Reload() *dbus.Error {
	if e := m.f.enter("reload"); e != nil {
		return e
	}
	m.f.loadPermanent()
	m.f.stale = nil
	m.f.mu.Unlock()
	m.f.emitReloaded()
	return nil
}

func (m *mainIface) CompleteReload() *dbus.Error {
	if e := m.f.enter("completeReload"); e != nil {
		return e
	}
	m.f.loadPermanent()
	m.f.stale = nil
	m.f.mu.Unlock()
	m.f.emitReloaded()
	return nil
}

func (m *mainIface) GetDefaultZone() (string, *dbus.Error) {
	if e := m.f.enter("getDefaultZone"); e != nil {
		return "", e
	}
	defer m.f.mu.Unlock()
	return "public", nil
}

type propsIface struct{ f *Fake }

func (p *propsIface) Get(iface, prop string) (dbus.Variant, *dbus.Error) {
	if e := p.f.enter(prop); e != nil {
		return dbus.Variant{}, e
	}
	defer p.f.mu.Unlock()
	switch {
	case iface == firewalld.Interface && prop == "state":
		return dbus.MakeVariant(p.f.state), nil
	case iface == firewalld.Interface && prop == "version":
		return dbus.MakeVariant("1.3.3"), nil
	}
	return dbus.Variant{}, fwErr("INVALID_PROPERTY", "%s.%s", iface, prop)
}

type zoneIface struct{ f *Fake }

func (z *zoneIface) GetZones() ([]string, *dbus.Error) {
	if e := z.f.enter("zone.getZones"); e != nil {
		return nil, e
	}
	defer z.f.mu.Unlock()
	return slices.Clone(stockZones), nil
}

// zoneName is firewalld's reading of an empty zone: the default zone.
func zoneName(zone string) string {
	if zone == "" {
		return "public"
	}
	return zone
}

func (z *zoneIface) GetSources(zone string) ([]string, *dbus.Error) {
	if e := z.f.enter("zone.getSources"); e != nil {
		return nil, e
	}
	defer z.f.mu.Unlock()
	zone = zoneName(zone)
	if !z.f.zoneExists(zone) {
		return nil, fwErr(firewalld.CodeInvalidZone, "%s", zone)
	}
	return append([]string{}, z.f.rtSources[zone]...), nil
}

func (z *zoneIface) AddSource(zone, src string) (string, *dbus.Error) {
	if e := z.f.enter("zone.addSource"); e != nil {
		return "", e
	}
	defer z.f.mu.Unlock()
	zone = zoneName(zone)
	if !z.f.zoneExists(zone) {
		return "", fwErr(firewalld.CodeInvalidZone, "%s", zone)
	}
	if e := checkSource(z.f, src, true); e != nil {
		return "", e
	}
	switch cur := z.f.sourceZone(src); cur {
	case "":
	case zone:
		return "", fwErr(firewalld.CodeZoneAlreadySet, "'%s' already bound to '%s'", src, zone)
	default:
		return "", fwErr(firewalld.CodeZoneConflict, "'%s' already bound to a zone", src)
	}
	z.f.rtSources[zone] = append(z.f.rtSources[zone], src)
	return zone, nil
}

func (z *zoneIface) RemoveSource(zone, src string) (string, *dbus.Error) {
	if e := z.f.enter("zone.removeSource"); e != nil {
		return "", e
	}
	defer z.f.mu.Unlock()
	zone = zoneName(zone)
	if !z.f.zoneExists(zone) {
		return "", fwErr(firewalld.CodeInvalidZone, "%s", zone)
	}
	i := slices.Index(z.f.rtSources[zone], src)
	if i < 0 {
		return "", fwErr(firewalld.CodeUnknownSource, "'%s' is not in any zone", src)
	}
	z.f.rtSources[zone] = slices.Delete(z.f.rtSources[zone], i, i+1)
	return zone, nil
}

func (z *zoneIface) QuerySource(zone, src string) (bool, *dbus.Error) {
	if e := z.f.enter("zone.querySource"); e != nil {
		return false, e
	}
	defer z.f.mu.Unlock()
	zone = zoneName(zone)
	if !z.f.zoneExists(zone) {
		return false, fwErr(firewalld.CodeInvalidZone, "%s", zone)
	}
	return slices.Contains(z.f.rtSources[zone], src), nil
}

func (z *zoneIface) GetZoneOfSource(src string) (string, *dbus.Error) {
	if e := z.f.enter("zone.getZoneOfSource"); e != nil {
		return "", e
	}
	defer z.f.mu.Unlock()
	return z.f.sourceZone(src), nil
}

type ipsetIface struct{ f *Fake }

func (i *ipsetIface) GetIPSets() ([]string, *dbus.Error) {
	if e := i.f.enter("ipset.getIPSets"); e != nil {
		return nil, e
	}
	defer i.f.mu.Unlock()
	var out []string
	for n := range i.f.rtIPSets {
		out = append(out, n)
	}
	return sorted(out), nil
}

func (i *ipsetIface) QueryIPSet(name string) (bool, *dbus.Error) {
	if e := i.f.enter("ipset.queryIPSet"); e != nil {
		return false, e
	}
	defer i.f.mu.Unlock()
	return i.f.rtIPSets[name] != nil, nil
}

func (i *ipsetIface) set(name string) (*ipset, *dbus.Error) {
	s := i.f.rtIPSets[name]
	if s == nil {
		return nil, fwErr(firewalld.CodeInvalidIPSet, "%s", name)
	}
	return s, nil
}

func (i *ipsetIface) GetEntries(name string) ([]string, *dbus.Error) {
	if e := i.f.enter("ipset.getEntries"); e != nil {
		return nil, e
	}
	defer i.f.mu.Unlock()
	s, e := i.set(name)
	if e != nil {
		return nil, e
	}
	return append([]string{}, s.entries...), nil
}

func (i *ipsetIface) SetEntries(name string, entries []string) *dbus.Error {
	if e := i.f.enter("ipset.setEntries"); e != nil {
		return e
	}
	defer i.f.mu.Unlock()
	s, e := i.set(name)
	if e != nil {
		return e
	}
	return setEntries(s, entries)
}

// setEntries is firewalld's set_entries: overlaps refused, each entry
// checked, entries stored as given.
func setEntries(s *ipset, entries []string) *dbus.Error {
	if e := overlap(entries); e != nil {
		return e
	}
	for _, en := range entries {
		if e := checkEntry(s, en); e != nil {
			return e
		}
	}
	if len(entries) > maxElem(s) {
		return fwErr("COMMAND_FAILED", "set is full (%d entries, maxelem %d)", len(entries), maxElem(s))
	}
	s.entries = slices.Clone(entries)
	return nil
}

func addEntry(s *ipset, entry string) *dbus.Error {
	entry = normaliseEntry(entry)
	if e := checkEntry(s, entry); e != nil {
		return e
	}
	if slices.Contains(s.entries, entry) {
		return fwErr(firewalld.CodeAlreadyEnabled, "'%s' already is in the set", entry)
	}
	if e := overlap(append(slices.Clone(s.entries), entry)); e != nil {
		return e
	}
	if len(s.entries) >= maxElem(s) {
		return fwErr("COMMAND_FAILED", "set is full (maxelem %d)", maxElem(s))
	}
	s.entries = append(s.entries, entry)
	return nil
}

func removeEntry(s *ipset, entry string) *dbus.Error {
	entry = normaliseEntry(entry)
	k := slices.Index(s.entries, entry)
	if k < 0 {
		return fwErr(firewalld.CodeNotEnabled, "'%s' not in the set", entry)
	}
	s.entries = slices.Delete(s.entries, k, k+1)
	return nil
}

func (i *ipsetIface) AddEntry(name, entry string) *dbus.Error {
	if e := i.f.enter("ipset.addEntry"); e != nil {
		return e
	}
	defer i.f.mu.Unlock()
	s, e := i.set(name)
	if e != nil {
		return e
	}
	return addEntry(s, entry)
}

func (i *ipsetIface) RemoveEntry(name, entry string) *dbus.Error {
	if e := i.f.enter("ipset.removeEntry"); e != nil {
		return e
	}
	defer i.f.mu.Unlock()
	s, e := i.set(name)
	if e != nil {
		return e
	}
	return removeEntry(s, entry)
}

type configIface struct{ f *Fake }

func (c *configIface) GetZoneNames() ([]string, *dbus.Error) {
	if e := c.f.enter("config.getZoneNames"); e != nil {
		return nil, e
	}
	defer c.f.mu.Unlock()
	return slices.Clone(stockZones), nil
}

func (c *configIface) GetZoneByName(zone string) (dbus.ObjectPath, *dbus.Error) {
	if e := c.f.enter("config.getZoneByName"); e != nil {
		return "", e
	}
	defer c.f.mu.Unlock()
	p, ok := c.f.zonePaths[zone]
	if !ok {
		return "", fwErr(firewalld.CodeInvalidZone, "%s", zone)
	}
	return p, nil
}

func (c *configIface) GetIPSetNames() ([]string, *dbus.Error) {
	if e := c.f.enter("config.getIPSetNames"); e != nil {
		return nil, e
	}
	defer c.f.mu.Unlock()
	var out []string
	for n := range c.f.permIPSets {
		out = append(out, n)
	}
	return sorted(out), nil
}

func (c *configIface) GetIPSetByName(name string) (dbus.ObjectPath, *dbus.Error) {
	if e := c.f.enter("config.getIPSetByName"); e != nil {
		return "", e
	}
	defer c.f.mu.Unlock()
	p, ok := c.f.ipsetPaths[name]
	if !ok {
		return "", fwErr(firewalld.CodeInvalidIPSet, "%s", name)
	}
	return p, nil
}

func (c *configIface) AddIPSet(name string, s firewalld.IPSetSettings) (dbus.ObjectPath, *dbus.Error) {
	if e := c.f.enter("config.addIPSet"); e != nil {
		return "", e
	}
	defer c.f.mu.Unlock()
	if c.f.permIPSets[name] != nil {
		return "", fwErr(firewalld.CodeNameConflict, "new_ipset(): '%s'", name)
	}
	if s.Type != "hash:net" && s.Type != "hash:ip" {
		return "", fwErr("INVALID_TYPE", "'%s' is not supported by the fake", s.Type)
	}
	set := &ipset{settings: s}
	if set.settings.Options == nil {
		set.settings.Options = map[string]string{}
	}
	if e := setEntries(set, s.Entries); e != nil {
		return "", e
	}
	set.settings.Entries = nil
	p := dbus.ObjectPath(fmt.Sprintf("%s/ipset/%d", firewalld.ConfigPath, c.f.nextIPSet))
	c.f.nextIPSet++
	if err := c.f.conn.ExportWithMap(&configIPSet{c.f, name}, configIPSetMap, p, firewalld.InterfaceConfigIPSet); err != nil {
		return "", fwErr("DBUS_ERROR", "export %s: %v", p, err)
	}
	c.f.permIPSets[name] = set
	c.f.ipsetPaths[name] = p
	return p, nil
}

type configZone struct {
	f    *Fake
	zone string
}

func (z *configZone) GetSources() ([]string, *dbus.Error) {
	if e := z.f.enter("config.zone.getSources"); e != nil {
		return nil, e
	}
	defer z.f.mu.Unlock()
	return append([]string{}, z.f.permSources[z.zone]...), nil
}

func (z *configZone) AddSource(src string) *dbus.Error {
	if e := z.f.enter("config.zone.addSource"); e != nil {
		return e
	}
	defer z.f.mu.Unlock()
	if slices.Contains(z.f.permSources[z.zone], src) {
		return fwErr(firewalld.CodeAlreadyEnabled, "%s", src)
	}
	if e := checkSource(z.f, src, false); e != nil {
		return e
	}
	z.f.permSources[z.zone] = append(z.f.permSources[z.zone], src)
	return nil
}

func (z *configZone) RemoveSource(src string) *dbus.Error {
	if e := z.f.enter("config.zone.removeSource"); e != nil {
		return e
	}
	defer z.f.mu.Unlock()
	k := slices.Index(z.f.permSources[z.zone], src)
	if k < 0 {
		return fwErr(firewalld.CodeNotEnabled, "%s", src)
	}
	z.f.permSources[z.zone] = slices.Delete(z.f.permSources[z.zone], k, k+1)
	return nil
}

func (z *configZone) QuerySource(src string) (bool, *dbus.Error) {
	if e := z.f.enter("config.zone.querySource"); e != nil {
		return false, e
	}
	defer z.f.mu.Unlock()
	return slices.Contains(z.f.permSources[z.zone], src), nil
}

type configIPSet struct {
	f    *Fake
	name string
}

// change runs fn on the permanent set under the fake's lock, as every
// entry-changing config.ipset method does.
func (s *configIPSet) change(method string, fn func(*ipset) *dbus.Error) *dbus.Error {
	if e := s.f.enter(method); e != nil {
		return e
	}
	defer s.f.mu.Unlock()
	set, e := s.get()
	if e != nil {
		return e
	}
	return fn(set)
}

func (s *configIPSet) get() (*ipset, *dbus.Error) {
	set := s.f.permIPSets[s.name]
	if set == nil {
		return nil, fwErr(firewalld.CodeInvalidIPSet, "%s", s.name)
	}
	return set, nil
}

func (s *configIPSet) GetSettings() (firewalld.IPSetSettings, *dbus.Error) {
	if e := s.f.enter("config.ipset.getSettings"); e != nil {
		return firewalld.IPSetSettings{}, e
	}
	defer s.f.mu.Unlock()
	set, e := s.get()
	if e != nil {
		return firewalld.IPSetSettings{}, e
	}
	st := set.clone().settings
	st.Entries = append([]string{}, set.entries...)
	return st, nil
}

func (s *configIPSet) GetEntries() ([]string, *dbus.Error) {
	if e := s.f.enter("config.ipset.getEntries"); e != nil {
		return nil, e
	}
	defer s.f.mu.Unlock()
	set, e := s.get()
	if e != nil {
		return nil, e
	}
	return append([]string{}, set.entries...), nil
}

func (s *configIPSet) SetEntries(entries []string) *dbus.Error {
	return s.change("config.ipset.setEntries", func(set *ipset) *dbus.Error { return setEntries(set, entries) })
}

func (s *configIPSet) AddEntry(entry string) *dbus.Error {
	return s.change("config.ipset.addEntry", func(set *ipset) *dbus.Error { return addEntry(set, entry) })
}

func (s *configIPSet) RemoveEntry(entry string) *dbus.Error {
	return s.change("config.ipset.removeEntry", func(set *ipset) *dbus.Error { return removeEntry(set, entry) })
}

func (s *configIPSet) Remove() *dbus.Error {
	if e := s.f.enter("config.ipset.remove"); e != nil {
		return e
	}
	defer s.f.mu.Unlock()
	if _, e := s.get(); e != nil {
		return e
	}
	p := s.f.ipsetPaths[s.name]
	delete(s.f.permIPSets, s.name)
	delete(s.f.ipsetPaths, s.name)
	_ = s.f.conn.Export(nil, p, firewalld.InterfaceConfigIPSet)
	return nil
}
