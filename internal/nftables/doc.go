// Package nftables is synguard's firewall backend for hosts that run plain
// nftables rather than firewalld. It keeps a table of its own, inet
// synguard, changed over netlink with github.com/google/nftables (never by
// running nft), each change one atomic batch:
//
//   - interval sets block4 and block6 hold the minimal cover of the active
//     blocks, each element with a kernel-side timeout a little past its
//     block's expiry, so that a responder gone for good cannot leave a block
//     forever;
//   - chain prerouting (hook prerouting, priority raw, before conntrack)
//     drops TCP SYNs without ACK from a blocked prefix, so a flood never
//     costs a conntrack entry;
//   - chain input (hook input, priority filter) drops other inbound traffic
//     from a blocked prefix after conntrack, unless it is established,
//     related or untracked (IPv6 neighbour discovery), so that the host's
//     own connections to that range keep working.
//
// Each rule counts what it drops: Collector exports the counters.
//
// The table is synguard's alone: nothing the operator makes lives in it, so
// firewall.Preexisting does not apply (the backend never reports it; an
// operator's own drops belong in a table of their own, which the backend
// never reads or changes), Sync leaves the sets holding exactly the cover
// of what it is given, and Purge deletes the whole table.
//
// Watch listens to nftables' netlink monitor for the deletion of the
// table, its sets or chains by another process (nft flush ruleset,
// systemctl restart nftables, nft delete table) and sends
// firewall.Reloaded; the driver's periodic Sync is the backstop. Nothing
// outside table inet synguard is ever changed.
package nftables
