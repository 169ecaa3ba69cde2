// Package blockstore keeps the blocks the responder owns, with their expiry
// and offence count, in a state file that survives a crash at any instant.
//
// A save writes a temporary file, fsyncs it, renames it over the state file
// and fsyncs the directory, so the file on disk is always either the old or
// the new state. A file that does not parse is never treated as empty: Open
// refuses it, because starting with no blocks would forget what is still in
// firewalld (and could never be lifted). Records of lifted blocks stay, so a
// prefix that floods again after its block ended is escalated.
package blockstore
