package firewalldtest

import (
	"fmt"
	"slices"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewalld"
)

// The permanent config's interfaces: the config object, one object per
// zone and one per ipset.

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
	if e := setEntries(c.f, set, s.Entries); e != nil {
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
	return s.change("config.ipset.setEntries", func(set *ipset) *dbus.Error { return setEntries(s.f, set, entries) })
}

func (s *configIPSet) AddEntry(entry string) *dbus.Error {
	return s.change("config.ipset.addEntry", func(set *ipset) *dbus.Error { return addEntry(s.f, set, entry) })
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
