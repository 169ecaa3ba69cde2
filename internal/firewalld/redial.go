package firewalld

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/godbus/dbus/v5"
)

// Dial returns a Client on the bus at address (the system bus when empty,
// see Connect) that dials again whenever its connection has closed (the
// bus restarted, the connection was dropped), so the responder recovers
// without a restart of its own: the call that finds the connection closed
// dials a new one, and Watch subscribes again on it. Close closes the
// connection in use.
func Dial(address string, cfg Config, logger *slog.Logger) (*Client, error) {
	conn, err := Connect(address)
	if err != nil {
		return nil, err
	}
	c, err := New(conn, cfg, logger)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.redial = func() (*dbus.Conn, error) { return Connect(address) }
	return c, nil
}

// errClosed is a connection that closed and cannot be dialed again (a
// Client from New, whose caller owns the connection).
var errClosed = errors.New("the D-Bus connection closed")

// bus returns the connection to call on: the current one while it is
// connected, else a new one when the Client can dial (Dial). A failed dial
// is the call's error; the caller's retry (with its backoff) dials again.
func (c *Client) bus() (*dbus.Conn, error) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.conn.Connected() {
		return c.conn, nil
	}
	if c.redial == nil {
		return nil, errClosed
	}
	conn, err := c.redial()
	if err != nil {
		return nil, fmt.Errorf("the D-Bus connection closed, and dialing again failed: %w", err)
	}
	c.logger.Warn("the D-Bus connection had closed: dialed a new one; signals are subscribed again and everything compared")
	c.conn = conn
	return conn, nil
}

// Close closes the connection in use.
func (c *Client) Close() error {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	return c.conn.Close()
}
