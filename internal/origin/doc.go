// Package origin answers the runbook's whois question offline: which
// autonomous system and country a prefix belongs to, from MaxMind-format
// databases (GeoLite2/GeoIP2 ASN and Country, or compatible DB-IP and IPinfo
// files) given by path.
//
// Lookups never touch the network and never block on I/O: the databases are
// read whole into memory at load time (not mmapped, so that an operator's
// in-place rewrite of a file cannot fault the process), verified, and
// swapped in atomically on reload. A reload that fails keeps the previous
// databases.
package origin
