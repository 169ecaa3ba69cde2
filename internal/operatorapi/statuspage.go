package operatorapi

import (
	"github.com/synguard/synguard/internal/blocks"
	"github.com/synguard/synguard/internal/statuspage"
)

// StatusSource returns the status page's source for the engine's snapshot.
func StatusSource(e interface{ Status() blocks.Status }) statuspage.Source {
	return statuspage.SourceFunc(func() statuspage.Snapshot { return Snapshot(e.Status()) })
}

// Snapshot converts the engine's status for the status page.
func Snapshot(s blocks.Status) statuspage.Snapshot {
	out := statuspage.Snapshot{
		Now: s.Now, Host: s.Host, Paused: s.Paused, DryRun: s.DryRun,
		Backend: statuspage.Backend{Name: s.Backend.Name, Mode: s.Backend.Mode, Where: s.Backend.Where, Up: s.Backend.Up,
			LastReconcile: s.Backend.LastReconcile, Detail: s.Backend.Detail},
	}
	for _, b := range s.Blocks {
		org := ""
		if b.Origin != nil {
			org = b.Origin.String()
		}
		out.Blocks = append(out.Blocks, statuspage.Block{
			Prefix: b.Prefix.String(), Family: b.Family(), Origin: org, Reason: b.Reason, Alert: b.Alert,
			Since: b.Since, Expiry: b.Expiry, Offences: b.Offences, Applied: !s.Pending[b.Prefix],
		})
	}
	conv := func(rs []blocks.Recent) []statuspage.Event {
		var evs []statuspage.Event
		for _, r := range rs {
			ev := statuspage.Event{Time: r.Time, Action: r.Action, Result: r.Result, Detail: r.Detail}
			if r.Prefix.IsValid() {
				ev.Prefix = r.Prefix.String()
			}
			evs = append(evs, ev)
		}
		return evs
	}
	out.Actions = conv(s.Actions)
	out.Refusals = conv(s.Refusals)
	return out
}
