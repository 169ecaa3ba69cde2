package firewalldtest

import (
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
	return setEntries(i.f, s, entries)
}

// setEntries is firewalld's set_entries: overlaps refused, each entry
// checked, entries stored as given.
func setEntries(f *Fake, s *ipset, entries []string) *dbus.Error {
	for _, en := range entries {
		if e := f.refusal(en); e != nil {
			return e
		}
	}
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

func addEntry(f *Fake, s *ipset, entry string) *dbus.Error {
	entry = normaliseEntry(entry)
	if e := f.refusal(entry); e != nil {
		return e
	}
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
	return addEntry(i.f, s, entry)
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
