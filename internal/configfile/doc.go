// Package configfile loads synguard's YAML configuration files strictly and
// reports every mistake as "file:line: reason", so that an operator can fix a
// config that refuses to start without guessing where the problem is.
//
// Types validate themselves in UnmarshalYAML(*yaml.Node), which sees the
// node's line, and return a *LineError (see Errorf) for what is wrong; Load
// turns both that and yaml.v3's own type errors into *FileError.
//
// The same layer serves every section: StrictDecode refuses unknown keys
// below a custom UnmarshalYAML, Field and At find the node (and so the line)
// of the field a section refuses, Duration is every duration in Prometheus's
// notation and Regexp every regular expression. Each section validates
// itself in its own UnmarshalYAML, where it is parsed.
package configfile
