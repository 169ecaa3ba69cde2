package nftables

import (
	"fmt"
	"slices"

	nft "github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// The objects of synguard's table. Its shape, as `nft list table inet
// synguard` shows it:
//
//	set block4 { type ipv4_addr; flags interval,timeout; }
//	set block6 { type ipv6_addr; flags interval,timeout; }
//	chain prerouting { type filter hook prerouting priority raw; policy accept;
//	    ip saddr @block4 tcp flags & (syn|ack) == syn counter drop
//	    ip6 saddr @block6 tcp flags & (syn|ack) == syn counter drop }
//	chain input { type filter hook input priority filter; policy accept;
//	    ip saddr @block4 ct state ! established,related,untracked counter drop
//	    ip6 saddr @block6 ct state ! established,related,untracked counter drop }
//
// Priority raw (-300) runs before conntrack (-200): a flood SYN is dropped
// before the kernel builds a conntrack entry for it. Everything else from a
// blocked prefix is dropped in input, after conntrack, unless it belongs to
// a connection the host itself opened (established, related) or is
// neighbour discovery (untracked), as firewalld's drop zone does.
const (
	set4Name       = "block4"
	set6Name       = "block6"
	preroutingName = "prerouting"
	inputName      = "input"
)

// family is one address family's set and its rules.
type family struct {
	name    string // "ipv4", "ipv6": the metric's family label
	set     string
	nfproto byte
	saddr   uint32 // offset of the source address in the network header
	keyType nft.SetDatatype
}

var families = [2]family{
	{name: "ipv4", set: set4Name, nfproto: unix.NFPROTO_IPV4, saddr: 12, keyType: nft.TypeIPAddr},
	{name: "ipv6", set: set6Name, nfproto: unix.NFPROTO_IPV6, saddr: 8, keyType: nft.TypeIP6Addr},
}

func (f family) bytes() uint32 { return f.keyType.Bytes }

// ruleComment is each rule's comment: it names the rule for the operator
// and lets the counters and the shape check find it.
func ruleComment(f family, hook string) string {
	if hook == preroutingName {
		return fmt.Sprintf("synguard: SYN from @%s, before conntrack", f.set)
	}
	return fmt.Sprintf("synguard: new traffic from @%s", f.set)
}

type objects struct {
	table             *nft.Table
	sets              [2]*nft.Set
	prerouting, input *nft.Chain
}

func newObjects(table string) objects {
	t := &nft.Table{Name: table, Family: nft.TableFamilyINet}
	o := objects{table: t}
	for i, f := range families {
		o.sets[i] = &nft.Set{Table: t, Name: f.set, KeyType: f.keyType, Interval: true, HasTimeout: true,
			Comment: "synguard: blocked prefixes, a minimal cover"}
	}
	accept := nft.ChainPolicyAccept
	o.prerouting = &nft.Chain{Name: preroutingName, Table: t, Type: nft.ChainTypeFilter,
		Hooknum: nft.ChainHookPrerouting, Priority: nft.ChainPriorityRaw, Policy: &accept}
	o.input = &nft.Chain{Name: inputName, Table: t, Type: nft.ChainTypeFilter,
		Hooknum: nft.ChainHookInput, Priority: nft.ChainPriorityFilter, Policy: &accept}
	return o
}

// matchSource loads the family's source address and looks it up in its set.
func matchSource(f family, set *nft.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f.nfproto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.bytes()},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
	}
}

func synRule(o objects, i int) *nft.Rule {
	f := families[i]
	ex := append(matchSource(f, o.sets[i]),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		// tcp flags & (syn|ack) == syn
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x12}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x02}},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
	return &nft.Rule{Table: o.table, Chain: o.prerouting, Exprs: ex,
		UserData: userdata.AppendString(nil, userdata.TypeComment, ruleComment(f, preroutingName))}
}

func inputRule(o objects, i int) *nft.Rule {
	f := families[i]
	// Untracked is IPv6 neighbour discovery (the kernel never tracks it):
	// dropping it would starve the host's own connections into the range.
	keep := binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED | expr.CtStateBitUNTRACKED)
	ex := append(matchSource(f, o.sets[i]),
		// ct state & (established|related|untracked) == 0
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: keep, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 0, 0, 0}},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
	return &nft.Rule{Table: o.table, Chain: o.input, Exprs: ex,
		UserData: userdata.AppendString(nil, userdata.TypeComment, ruleComment(f, inputName))}
}

// queueBuild queues, on c, the table made anew with elems in its sets:
// adding the table first makes deleting it valid whether or not it exists,
// so the batch replaces whatever the table held, atomically.
func queueBuild(c *nft.Conn, o objects, elems [2][]nft.SetElement) error {
	c.AddTable(o.table)
	c.DelTable(o.table)
	c.AddTable(o.table)
	for i, s := range o.sets {
		if err := c.AddSet(s, elems[i]); err != nil {
			return fmt.Errorf("queue set %s: %w", s.Name, err)
		}
	}
	c.AddChain(o.prerouting)
	c.AddChain(o.input)
	for i := range families {
		c.AddRule(synRule(o, i))
	}
	for i := range families {
		c.AddRule(inputRule(o, i))
	}
	return nil
}

// intact reports whether the table is there with the shape newObjects
// makes, and why not.
func intact(c *nft.Conn, o objects) (bool, string, error) {
	tables, err := c.ListTablesOfFamily(nft.TableFamilyINet)
	if err != nil {
		return false, "", fmt.Errorf("list tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nft.Table) bool { return t.Name == o.table.Name }) {
		return false, "no table", nil
	}
	sets, err := c.GetSets(o.table)
	if err != nil {
		return false, "", fmt.Errorf("list sets: %w", err)
	}
	for _, want := range o.sets {
		i := slices.IndexFunc(sets, func(s *nft.Set) bool { return s.Name == want.Name })
		if i < 0 || !sets[i].Interval || !sets[i].HasTimeout || sets[i].KeyType.Name != want.KeyType.Name {
			return false, "set " + want.Name + " missing or changed", nil
		}
	}
	for _, ch := range []*nft.Chain{o.prerouting, o.input} {
		rules, err := c.GetRules(o.table, ch)
		if err != nil {
			// The chain is gone (ENOENT) or unreadable: rebuild either way.
			return false, "chain " + ch.Name + ": " + err.Error(), nil
		}
		var got []string
		for _, r := range rules {
			s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			got = append(got, s)
		}
		want := []string{ruleComment(families[0], ch.Name), ruleComment(families[1], ch.Name)}
		if !slices.Equal(got, want) {
			return false, fmt.Sprintf("chain %s holds rules %q", ch.Name, got), nil
		}
	}
	return true, "", nil
}

// dropCount is one rule's counter.
type dropCount struct {
	family, hook string
	packets      uint64
}

// counters reads the drop counters of the table's rules.
func counters(c *nft.Conn, o objects) ([]dropCount, error) {
	var out []dropCount
	for _, ch := range []*nft.Chain{o.prerouting, o.input} {
		rules, err := c.GetRules(o.table, ch)
		if err != nil {
			return nil, fmt.Errorf("read rules of chain %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			for _, f := range families {
				if s != ruleComment(f, ch.Name) {
					continue
				}
				for _, e := range r.Exprs {
					if ctr, ok := e.(*expr.Counter); ok {
						out = append(out, dropCount{family: f.name, hook: ch.Name, packets: ctr.Packets})
					}
				}
			}
		}
	}
	return out, nil
}
