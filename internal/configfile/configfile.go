package configfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LineError is a validation error tied to a line of the YAML input.
type LineError struct {
	Line int
	Msg  string
}

// Error implements error.
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

var _ error = &LineError{}

// Errorf returns a *LineError for the line of node n (0 when n is nil).
func Errorf(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &LineError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// FileError is a configuration error with the file and line it came from.
type FileError struct {
	File string
	Line int // 0 when the mistake has no single line (an empty file, a missing file)
	Msg  string
}

// Error implements error as "file:line: reason".
func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var _ error = &FileError{}

// Load reads path and decodes it into out, refusing unknown fields.
func Load(path string, out any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &FileError{File: path, Msg: fmt.Sprintf("read config: %v", err)}
	}
	return Decode(path, b, out)
}

// Decode decodes YAML bytes into out, refusing unknown fields; name is the
// file name used in errors. An empty document decodes to out's zero value
// after UnmarshalYAML defaults, so callers should set defaults in out first.
func Decode(name string, b []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return toFileError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return &FileError{File: name, Line: extra.Line, Msg: "more than one YAML document; expected exactly one"}
	}
	return nil
}

// yamlLine matches yaml.v3's "line N: reason" messages.
var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

func toFileError(name string, err error) error {
	var le *LineError
	if errors.As(err, &le) {
		return &FileError{File: name, Line: le.Line, Msg: le.Msg}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		// Report the first mistake with its line; the rest follow in the message.
		first := strings.TrimPrefix(te.Errors[0], "yaml: ")
		fe := &FileError{File: name, Msg: first}
		if m := yamlLine.FindStringSubmatch(first); m != nil {
			fe.Line, _ = strconv.Atoi(m[1])
			fe.Msg = m[2]
		}
		if n := len(te.Errors) - 1; n > 0 {
			fe.Msg += fmt.Sprintf(" (and %d more)", n)
		}
		return fe
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	fe := &FileError{File: name, Msg: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		fe.Msg = m[2]
	}
	return fe
}
