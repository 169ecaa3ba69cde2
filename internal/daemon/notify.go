package daemon

import (
	"log/slog"
	"sync"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
)

// Notifier tells systemd (Type=notify units) that the binary is ready, once.
// It sends READY=1 when every condition registered with Hold has been
// released and the server listens; outside systemd (no NOTIFY_SOCKET) it
// sends nothing.
type Notifier struct {
	logger *slog.Logger
	send   func(state string) (bool, error)

	mu      sync.Mutex
	pending int
	serving bool
	sent    bool
}

func newNotifier(logger *slog.Logger, send func(string) (bool, error)) *Notifier {
	if send == nil {
		send = func(state string) (bool, error) { return sddaemon.SdNotify(false, state) }
	}
	return &Notifier{logger: logger, send: send}
}

// Hold adds a condition READY waits for and returns the function that
// releases it (calling it again does nothing). The responder holds READY
// until its first backend Prepare was tried, whatever its outcome.
func (n *Notifier) Hold() (release func()) {
	n.mu.Lock()
	n.pending++
	n.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			n.mu.Lock()
			n.pending--
			n.mu.Unlock()
			n.maybeSend()
		})
	}
}

// listening marks the server as accepting connections.
func (n *Notifier) listening() {
	n.mu.Lock()
	n.serving = true
	n.mu.Unlock()
	n.maybeSend()
}

func (n *Notifier) maybeSend() {
	n.mu.Lock()
	if n.sent || !n.serving || n.pending > 0 {
		n.mu.Unlock()
		return
	}
	n.sent = true
	n.mu.Unlock()
	sent, err := n.send(sddaemon.SdNotifyReady)
	switch {
	case err != nil:
		n.logger.Warn("telling systemd we are ready failed", "err", err)
	case sent:
		n.logger.Debug("told systemd we are ready")
	}
}
