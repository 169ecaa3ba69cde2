package firewalld

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

// Error is a failed firewalld call. Code is firewalld's error code (the part
// of "CODE: message" before the colon), or the D-Bus error name for errors
// that do not come from firewalld itself (org.freedesktop.DBus.Error.ServiceUnknown
// when firewalld is not on the bus), or empty for a local failure (closed
// connection, cancelled context), which Err then holds.
type Error struct {
	// Op is the call, for example `zone.addSource("drop", "198.51.100.32/27")`.
	Op string
	// Code classifies the error; compare it with IsCode.
	Code string
	// Message is the rest of firewalld's message.
	Message string
	// Err is the underlying error (a dbus.Error, or a context or I/O error).
	Err error
}

var _ error = &Error{}

// Error formats the call and firewalld's answer.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("firewalld ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Code != "" {
		b.WriteString(e.Code)
		if e.Message != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Message)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// IsCode reports whether err is (or wraps) an Error with the given code.
func IsCode(err error, code string) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Code == code
}

// Code returns the code of the Error err is or wraps, or "" if none.
func Code(err error) string {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return ""
}

// D-Bus error names that mean firewalld is not there to answer.
var unavailableNames = map[string]bool{
	"org.freedesktop.DBus.Error.ServiceUnknown": true,
	"org.freedesktop.DBus.Error.NameHasNoOwner": true,
	"org.freedesktop.DBus.Error.NoReply":        true,
	"org.freedesktop.DBus.Error.Disconnected":   true,
	"org.freedesktop.DBus.Error.Timeout":        true,
	"org.freedesktop.DBus.Error.UnknownObject":  true,
}

// IsUnavailable reports whether err means firewalld (or the bus) did not
// answer, as opposed to refusing a request: the caller keeps its desired
// state and retries with backoff.
func IsUnavailable(err error) bool {
	var fe *Error
	if !errors.As(err, &fe) {
		return errors.Is(err, dbus.ErrClosed)
	}
	if unavailableNames[fe.Code] || fe.Code == CodeNotRunning {
		return true
	}
	if fe.Code == "" {
		return errors.Is(fe.Err, dbus.ErrClosed) || errors.Is(fe.Err, context.DeadlineExceeded)
	}
	return false
}

// newError classifies err from the call op.
func newError(op string, err error) *Error {
	e := &Error{Op: op, Err: err}
	var de dbus.Error
	var dep *dbus.Error
	switch {
	case errors.As(err, &de):
	case errors.As(err, &dep):
		de = *dep
	default:
		e.Message = err.Error()
		return e
	}
	msg := ""
	if len(de.Body) > 0 {
		if s, ok := de.Body[0].(string); ok {
			msg = s
		}
	}
	if de.Name != ExceptionName {
		e.Code, e.Message = de.Name, msg
		return e
	}
	e.Code, e.Message = splitCode(msg)
	return e
}

// splitCode splits firewalld's "CODE: message". A message without a code
// (a Python error from a wrong signature) stays whole with an empty code.
func splitCode(s string) (code, msg string) {
	c, rest, ok := strings.Cut(s, ":")
	if !ok {
		c, rest = s, ""
	}
	if c == "" || strings.IndexFunc(c, func(r rune) bool { return !(r >= 'A' && r <= 'Z' || r == '_') }) >= 0 {
		return "", s
	}
	return c, strings.TrimSpace(rest)
}

// opString formats a call for Error.Op, summarising long lists.
func opString(method string, args []any) string {
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		switch v := a.(type) {
		case string:
			fmt.Fprintf(&b, "%q", v)
		case []string:
			fmt.Fprintf(&b, "[%d entries]", len(v))
		default:
			b.WriteString("…")
		}
	}
	b.WriteByte(')')
	return b.String()
}
