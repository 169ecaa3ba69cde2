// Package conntrack cuts the tracked connections of blocked prefixes.
//
// firewalld accepts every packet of an established connection before any
// zone sees it (`ct state established,related accept` heads its input
// chain), so putting a source in the drop zone stops new connections only.
// Deleting the connections' conntrack entries makes their next packet look
// new to the kernel, and the zone then drops it.
package conntrack
