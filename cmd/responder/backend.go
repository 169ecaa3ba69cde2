package main

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/conntrack"
	"github.com/synguard/synguard/internal/firewall"
	"github.com/synguard/synguard/internal/firewalld"
	"github.com/synguard/synguard/internal/nftables"
	"github.com/synguard/synguard/internal/responderconfig"
)

// openedBackend is the configured backend, what closes it, and the
// backend's own metrics (nil for none).
type openedBackend struct {
	firewall.Backend
	close     func()
	collector prometheus.Collector
}

// openBackend connects the backend firewall.backend names, wrapped so that
// a new block also cuts the range's established connections (unless
// firewall.keep_connections). A new backend is one case here, a package
// of its own behind internal/firewall, and its section in responderconfig.
func (m *Main) openBackend(cfg *responderconfig.Config) (*openedBackend, error) {
	var ob openedBackend
	switch cfg.Firewall.Backend {
	case responderconfig.BackendFirewalld:
		// Dial, not New: the client dials the bus again should its
		// connection close, without a restart of the responder.
		client, err := firewalld.Dial(m.flags.dbusAddress, cfg.Firewall.Firewalld, m.logger)
		if err != nil {
			return nil, err
		}
		ob = openedBackend{Backend: client, close: func() { _ = client.Close() }, collector: client.Collector()}
	case responderconfig.BackendNftables:
		b, err := nftables.New(cfg.Firewall.Nftables, m.logger)
		if err != nil {
			return nil, err
		}
		ob = openedBackend{Backend: b, close: func() { _ = b.Close() }, collector: b.Collector()}
	default:
		// responderconfig refuses unknown backends; this is a programming error.
		return nil, fmt.Errorf("firewall backend %q is not built in", cfg.Firewall.Backend)
	}
	if !cfg.Firewall.KeepConnections {
		ob.Backend = firewall.WithCut(ob.Backend, conntrack.Cutter{Netns: cfg.Firewall.ConntrackNetns}.Cut, m.logger)
	}
	return &ob, nil
}
