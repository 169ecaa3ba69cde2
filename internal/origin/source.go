package origin

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Source is the origin databases a binary's configuration names, kept
// current: Apply at start and on every configuration reload, Watch for new
// files on disk. A failed Apply or reload keeps what was loaded. The zero
// configuration is valid and makes every lookup empty. Safe for concurrent
// use.
type Source struct {
	logger *slog.Logger
	mu     sync.Mutex
	cfg    Config
	db     *DB // nil until the first successful Apply
}

// NewSource returns a Source with nothing loaded.
func NewSource(logger *slog.Logger) *Source {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Source{logger: logger}
}

// Apply loads the databases cfg names. With the same paths as before it
// only re-reads files that changed on disk.
func (s *Source) Apply(cfg Config) error {
	s.mu.Lock()
	db, same := s.db, s.db != nil && cfg == s.cfg
	s.mu.Unlock()
	if same {
		_, err := db.ReloadIfChanged()
		return err
	}
	db, err := Open(cfg, s.logger)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cfg, s.db = cfg, db
	s.mu.Unlock()
	return nil
}

// Enabled reports whether any database is loaded.
func (s *Source) Enabled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db != nil && s.cfg.Enabled()
}

// Lookup returns the origin of p, empty when unknown or when no database is
// configured.
func (s *Source) Lookup(p netip.Prefix) Info {
	s.mu.Lock()
	db := s.db
	s.mu.Unlock()
	return db.Lookup(p)
}

// Watch re-reads changed database files every interval until ctx is done;
// a broken new file is logged and the loaded one stays.
func (s *Source) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			db := s.db
			s.mu.Unlock()
			if db == nil {
				continue
			}
			if _, err := db.ReloadIfChanged(); err != nil {
				s.logger.Error("origin databases not reloaded; keeping the loaded ones", "err", err)
			}
		}
	}
}
