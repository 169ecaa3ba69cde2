package reconcile

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synguard/synguard/internal/firewall"
)

// A backend that keeps refusing the same way is logged at ERROR once, then
// again only after failureRepeatLog with the count of repeats; another
// failure, or one after the backend was up, is logged at once.
func TestRepeatedFailureLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	d := &Driver{
		logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})),
		now:    func() time.Time { return now },
		m:      newMetrics(prometheus.NewRegistry(), firewall.Description{}),
	}
	errs := func() int { return strings.Count(buf.String(), "level=ERROR") }
	same := errors.New("firewalld was reloaded once already to load ipset synguard4 and still needs it")

	for range 20 {
		d.logFailureLocked(opPrepare, same)
		now = now.Add(30 * time.Second)
	}
	if n := errs(); n != 1 {
		t.Fatalf("the same failure 20 times in 10 minutes logged %d times at ERROR, want 1:\n%s", n, buf.String())
	}
	d.logFailureLocked(opPrepare, same)
	if n := errs(); n != 2 || !strings.Contains(buf.String(), "repeats=19") {
		t.Fatalf("after %v it is said again with its repeats (got %d ERROR lines):\n%s", failureRepeatLog, n, buf.String())
	}
	d.logFailureLocked(opAdd, errors.New("another failure"))
	if n := errs(); n != 3 {
		t.Fatalf("a different failure was not logged at once:\n%s", buf.String())
	}
	d.setUpLocked(true, "")
	d.logFailureLocked(opAdd, errors.New("another failure"))
	if n := errs(); n != 4 {
		t.Fatalf("a failure after the backend was up again was not logged at once:\n%s", buf.String())
	}
}
