package firewalldtest

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/prefix"
)

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
	if e := f.refusal(src); e != nil {
		return e
	}
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
	slices.SortFunc(ps, prefix.Compare)
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

// refusal is the error Refuse set up for a source or entry, or nil.
func (f *Fake) refusal(s string) *dbus.Error {
	if code, ok := f.refused[s]; ok {
		return fwErr(code, "'%s' refused, as set up by firewalldtest", s)
	}
	return nil
}
