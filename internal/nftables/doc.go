// Package nftables is synguard's firewall backend for hosts that run plain
// nftables rather than firewalld. It keeps a table of its own, inet
// synguard, changed over netlink with github.com/google/nftables (never by
// running nft), each change one atomic batch:
//
//   - interval sets block4 and block6 hold the minimal cover of the active
//     blocks, each element with a kernel-side timeout a little past its
//     block's expiry, so that a responder gone for good cannot leave a block
//     forever;
//   - chain prerouting_raw (hook prerouting, priority raw, before conntrack)
//     drops TCP SYNs without ACK from a blocked prefix, so a flood never
//     builds a conntrack entry;
//   - chain input_filter (hook input, priority filter) drops other new
//     inbound traffic from a blocked prefix, after conntrack, so that the
//     host's own established connections to that range keep working.
//
// The table is synguard's alone: nothing the operator makes lives in it, so
// the backend never reports firewall.Preexisting, and Purge deletes the
// whole table. Watch listens to nftables' netlink monitor for the deletion
// of the table, its sets or chains (nft flush ruleset, systemctl restart
// nftables, nft delete table) and sends firewall.Reloaded; the driver's
// periodic Sync is the backstop. Nothing outside table inet synguard is ever
// read for change or touched.
package nftables

import (
	// The netlink library the backend is written against.
	_ "github.com/google/nftables"
)
