package soak

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/lab"
)

// firewall reads what the firewall itself holds, apart from the responder:
// firewalld over a D-Bus connection of the test's own, nftables by nft.
type firewall struct {
	l     *lab.Lab
	setup setup
	conn  *dbus.Conn
}

// held is what the firewall holds now.
type held struct {
	// entries are the responder's place: the ipsets' entries (ipset mode),
	// the drop zone's sources (zone mode), table inet synguard (nftables).
	entries []netip.Prefix
	// cover is the addresses entries hold (an nftables interval set keeps
	// ranges, not prefixes).
	cover Cover
	// zone is the drop zone's sources that are prefixes (operator's
	// sources in every setup).
	zone []netip.Prefix
	// other is what the drop zone holds beside prefixes (ipset:...).
	other []string
}

func (f *firewall) dbus() (*dbus.Conn, error) {
	if f.conn != nil && f.conn.Connected() {
		return f.conn, nil
	}
	conn, err := dbus.Connect(f.l.BusAddr)
	if err != nil {
		return nil, fmt.Errorf("connect to the lab's bus: %w", err)
	}
	f.conn = conn
	return conn, nil
}

func (f *firewall) close() {
	if f.conn != nil {
		f.conn.Close()
	}
}

func (f *firewall) call(method string, args ...any) ([]string, error) {
	conn, err := f.dbus()
	if err != nil {
		return nil, err
	}
	var out []string
	err = conn.Object(firewalld.BusName, firewalld.ObjectPath).Call(method, 0, args...).Store(&out)
	return out, err
}

func parseEntry(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// read returns what the firewall holds.
func (f *firewall) read() (held, error) {
	var h held
	sources, err := f.call(firewalld.InterfaceZone+".getSources", "drop")
	if err != nil {
		return h, fmt.Errorf("getSources drop: %w", err)
	}
	for _, s := range sources {
		if p, ok := parseEntry(s); ok {
			h.zone = append(h.zone, p)
		} else {
			h.other = append(h.other, s)
		}
	}
	switch {
	case f.setup.backend == "nftables":
		h.entries, h.cover, err = nftHeld(f.l.NS)
		if err != nil {
			return h, err
		}
	case f.setup.mode == "ipset":
		for _, set := range []string{"synguard4", "synguard6"} {
			es, err := f.call(firewalld.InterfaceIPSet+".getEntries", set)
			if err != nil {
				return h, fmt.Errorf("getEntries %s: %w", set, err)
			}
			for _, e := range es {
				p, ok := parseEntry(e)
				if !ok {
					return h, fmt.Errorf("ipset %s holds %q, not a prefix", set, e)
				}
				h.entries = append(h.entries, p)
			}
		}
		h.cover = CoverOf(h.entries...)
	default:
		h.entries = h.zone
		h.cover = CoverOf(h.entries...)
	}
	return h, nil
}

// nftHeld reads table inet synguard's sets with nft -j.
func nftHeld(ns string) ([]netip.Prefix, Cover, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "-j", "list", "table", "inet", "synguard").CombinedOutput()
	if err != nil {
		return nil, nil, fmt.Errorf("nft list table inet synguard: %v: %s", err, out)
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, nil, fmt.Errorf("decode nft -j: %w", err)
	}
	var ps []netip.Prefix
	var c Cover
	for _, obj := range doc.Nftables {
		raw, ok := obj["set"]
		if !ok {
			continue
		}
		var set struct {
			Elem []json.RawMessage `json:"elem"`
		}
		if err := json.Unmarshal(raw, &set); err != nil {
			return nil, nil, fmt.Errorf("decode a set: %w", err)
		}
		for _, e := range set.Elem {
			first, last, p, err := nftElem(e)
			if err != nil {
				return nil, nil, err
			}
			if p.IsValid() {
				ps = append(ps, p)
			}
			c = c.WithRange(first, last)
		}
	}
	return ps, c, nil
}

// nftElem decodes one element of nft -j: an address, {"prefix": ...},
// {"range": [a, b]}, or {"elem": {"val": ...}} around one of them.
func nftElem(raw json.RawMessage) (first, last netip.Addr, p netip.Prefix, err error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return first, last, p, fmt.Errorf("nft element %q: %w", s, err)
		}
		return a, a, netip.PrefixFrom(a, a.BitLen()), nil
	}
	var m struct {
		Elem *struct {
			Val json.RawMessage `json:"val"`
		} `json:"elem"`
		Prefix *struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
		Range []string `json:"range"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return first, last, p, fmt.Errorf("nft element %s: %w", raw, err)
	}
	switch {
	case m.Elem != nil:
		return nftElem(m.Elem.Val)
	case m.Prefix != nil:
		a, err := netip.ParseAddr(m.Prefix.Addr)
		if err != nil {
			return first, last, p, fmt.Errorf("nft element %s: %w", raw, err)
		}
		p = netip.PrefixFrom(a, m.Prefix.Len).Masked()
		sp := spanOf(p)
		return sp.first, sp.last, p, nil
	case len(m.Range) == 2:
		a, err1 := netip.ParseAddr(m.Range[0])
		b, err2 := netip.ParseAddr(m.Range[1])
		if err1 != nil || err2 != nil {
			return first, last, p, fmt.Errorf("nft element %s: bad range", raw)
		}
		return a, b, p, nil
	}
	return first, last, p, fmt.Errorf("nft element %s: unknown form", raw)
}

// responderName is the responder's unique name on the lab's bus: the
// connection whose process is pid.
func (f *firewall) responderName(pid int) (string, error) {
	conn, err := f.dbus()
	if err != nil {
		return "", err
	}
	var names []string
	if err := conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
		return "", fmt.Errorf("ListNames: %w", err)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, ":") {
			continue
		}
		var p uint32
		if conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, n).Store(&p) == nil && int(p) == pid {
			return n, nil
		}
	}
	return "", fmt.Errorf("no connection of pid %d on the lab's bus (names %v)", pid, names)
}

// forgeAs runs test/lab/cmd/forgesignals (built as bin) as uid: a local
// user's process sending dest firewalld's forged signals straight to it,
// which the lab's bus lets through as Debian's system bus would. It
// returns how many signals the bus took.
func (f *firewall) forgeAs(bin string, uid int, dest string) (int, error) {
	out, err := exec.Command(bin, "-bus", f.l.BusAddr, "-dest", dest, "-uid", strconv.Itoa(uid)).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("forgesignals as uid %d: %v: %s", uid, err, strings.TrimSpace(string(out)))
	}
	fs := strings.Fields(string(out))
	if len(fs) != 2 {
		return 0, fmt.Errorf("forgesignals printed %q", out)
	}
	return strconv.Atoi(fs[1])
}

// rootForged is how many signals forge sends.
const rootForged = 4

// forge sends dest, from the test's own connection (another process than
// firewalld and the bus), the signals that would mean firewalld stopped,
// restarted and reloaded: straight to dest, past its match rules. Then it
// waits for the bus to have passed them on.
func (f *firewall) forge(dest string) error {
	conn, err := f.dbus()
	if err != nil {
		return err
	}
	var owner string
	_ = conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, firewalld.BusName).Store(&owner)
	me := conn.Names()[0]
	send := func(path dbus.ObjectPath, iface, member string, body ...any) error {
		msg := &dbus.Message{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldPath:        dbus.MakeVariant(path),
			dbus.FieldInterface:   dbus.MakeVariant(iface),
			dbus.FieldMember:      dbus.MakeVariant(member),
			dbus.FieldDestination: dbus.MakeVariant(dest),
		}, Body: body}
		if len(body) > 0 {
			msg.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(body...))
		}
		select {
		case call := <-conn.Send(msg, make(chan *dbus.Call, 1)).Done:
			return call.Err
		case <-time.After(5 * time.Second):
			return fmt.Errorf("send %s.%s: timed out", iface, member)
		}
	}
	for _, s := range []struct {
		path          dbus.ObjectPath
		iface, member string
		body          []any
	}{
		{"/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged", []any{firewalld.BusName, owner, ""}},
		{"/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged", []any{firewalld.BusName, "", me}},
		{"/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged", []any{firewalld.BusName, owner, me}},
		{firewalld.ObjectPath, firewalld.Interface, firewalld.SignalReloaded, nil},
	} {
		if err := send(s.path, s.iface, s.member, s.body...); err != nil {
			return fmt.Errorf("forge %s.%s: %w", s.iface, s.member, err)
		}
	}
	// A round trip through the bus: the signals went before its answer.
	return conn.BusObject().Call("org.freedesktop.DBus.Peer.Ping", 0).Err
}

// operatorAdd makes p an operator's own drop source, runtime and
// permanent, as `firewall-cmd --zone=drop --add-source` (with and without
// --permanent) does: it survives reloads and restarts, and only the
// operator may ever take it away.
func operatorAdd(l *lab.Lab, p netip.Prefix) error {
	for _, perm := range []bool{false, true} {
		args := []string{"--zone=drop", "--add-source=" + p.String()}
		if perm {
			args = append([]string{"--permanent"}, args...)
		}
		if out, err := l.FwOut("fw_cmd", args...); err != nil {
			return fmt.Errorf("firewall-cmd %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func sortedPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out)
}
