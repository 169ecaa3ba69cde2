// Package blockstore keeps the blocks the responder owns, with their expiry
// and offence count, in a state that survives a crash at any instant.
//
// The state is a snapshot (the state file, version 2) and a journal beside
// it (state file + ".journal"). A save appends one record of what changed
// and fsyncs it, so it costs what the change costs, not the whole store; a
// record is checksummed and numbered, so a save is whole or absent. When the
// journal outgrows the snapshot, or holds compactRecords records, a save
// writes a new snapshot instead (temporary file, fsync, rename, fsync of
// the directory) and empties the journal.
//
// A state that does not load is never treated as empty: Open refuses it,
// because starting with no blocks would forget what is still in the firewall
// (and could never be lifted). Only a torn last journal record, the one
// write a crash can interrupt and that was therefore never acknowledged, is
// dropped. The released format (version 1: the whole state rewritten on
// every save) is migrated at the first Open. Records of lifted blocks stay,
// so a prefix that floods again after its block ended is escalated.
package blockstore
