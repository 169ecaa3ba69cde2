package origin

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Config names the databases. Either may be empty; with both empty, origin
// lookups are off and every Info is empty.
type Config struct {
	// ASNDatabase is the path of an ASN database (GeoLite2-ASN, GeoIP2-ISP,
	// DB-IP ASN Lite, IPinfo ASN).
	ASNDatabase string `yaml:"asn_database"`
	// CountryDatabase is the path of a Country or City database.
	CountryDatabase string `yaml:"country_database"`
}

// Enabled reports whether any database is configured.
func (c Config) Enabled() bool { return c.ASNDatabase != "" || c.CountryDatabase != "" }

// Info is what is known of a prefix's origin. Zero values mean unknown.
type Info struct {
	ASN     uint32 `json:"asn,omitempty"`
	ASOrg   string `json:"as_org,omitempty"`
	Country string `json:"country,omitempty"` // ISO 3166-1 alpha-2, upper case
}

// Known reports whether anything is known.
func (i Info) Known() bool { return i.ASN != 0 || i.ASOrg != "" || i.Country != "" }

// String is the origin as a person reads it: "AS64496 Example Net, ZZ",
// with "unknown" for what is not known.
func (i Info) String() string {
	as := "AS unknown"
	if i.ASN != 0 {
		as = "AS" + strconv.FormatUint(uint64(i.ASN), 10)
	}
	if i.ASOrg != "" {
		as += " " + i.ASOrg
	}
	cc := i.Country
	if cc == "" {
		cc = "country unknown"
	}
	return as + ", " + cc
}

// ASNLabel returns the AS number as a label value ("" when unknown).
func (i Info) ASNLabel() string {
	if i.ASN == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(i.ASN), 10)
}

// asnRecord decodes both MaxMind's and IPinfo's field names.
type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
	// IPinfo's ASN files: "asn": "AS64496", "name"/"as_name": "...".
	IPinfoASN  string `maxminddb:"asn"`
	IPinfoName string `maxminddb:"name"`
	IPinfoOrg  string `maxminddb:"as_name"`
}

type countryRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	// IPinfo's country files: "country": "DE" is a string there, which
	// would fail to decode into the struct above; it is read separately.
}

type ipinfoCountryRecord struct {
	Country string `maxminddb:"country"`
}

// databases is one generation of loaded readers.
type databases struct {
	asn, country *maxminddb.Reader
	asnStamp     fileStamp
	countryStamp fileStamp
}

type fileStamp struct {
	size    int64
	modTime time.Time
}

// DB looks up origins. It is safe for concurrent use; Reload swaps the
// databases without blocking lookups.
type DB struct {
	cfg    Config
	logger *slog.Logger
	cur    atomic.Pointer[databases]
	mu     sync.Mutex // serialises Reload
}

// Open loads the configured databases. It fails on a missing, truncated,
// corrupt or wrong-type file. With no database configured it logs that once
// and returns a DB whose lookups are empty.
func Open(cfg Config, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &DB{cfg: cfg, logger: logger}
	if !cfg.Enabled() {
		logger.Info("no origin databases configured; prefixes are shown without AS and country")
		d.cur.Store(&databases{})
		return d, nil
	}
	dbs, err := load(cfg)
	if err != nil {
		return nil, err
	}
	d.cur.Store(dbs)
	logger.Info("origin databases loaded", "asn_database", cfg.ASNDatabase, "country_database", cfg.CountryDatabase)
	return d, nil
}

func load(cfg Config) (*databases, error) {
	dbs := &databases{}
	var err error
	if cfg.ASNDatabase != "" {
		if dbs.asn, dbs.asnStamp, err = openChecked(cfg.ASNDatabase, "ASN", "ISP"); err != nil {
			return nil, err
		}
	}
	if cfg.CountryDatabase != "" {
		if dbs.country, dbs.countryStamp, err = openChecked(cfg.CountryDatabase, "Country", "City"); err != nil {
			return nil, err
		}
	}
	return dbs, nil
}

// openChecked reads path whole, verifies it and checks that its
// database_type names one of kinds (case-insensitive substring), so that a
// Country file given as the ASN database is refused rather than answering
// every lookup with nothing.
func openChecked(path string, kinds ...string) (*maxminddb.Reader, fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("open origin database: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("open origin database: %w", err)
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("open origin database %s: %w", path, err)
	}
	if err := r.Verify(); err != nil {
		return nil, fileStamp{}, fmt.Errorf("verify origin database %s: %w", path, err)
	}
	typ := strings.ToLower(r.Metadata.DatabaseType)
	for _, k := range kinds {
		if strings.Contains(typ, strings.ToLower(k)) {
			return r, fileStamp{size: st.Size(), modTime: st.ModTime()}, nil
		}
	}
	return nil, fileStamp{}, fmt.Errorf("origin database %s has type %q, want a %s database", path, r.Metadata.DatabaseType, strings.Join(kinds, " or "))
}

// Reload re-reads the databases. On error the previous ones stay in use.
func (d *DB) Reload() error {
	if !d.cfg.Enabled() {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	dbs, err := load(d.cfg)
	if err != nil {
		return fmt.Errorf("reload origin databases (keeping the previous ones): %w", err)
	}
	d.cur.Store(dbs)
	return nil
}

// changed reports whether a configured file's size or modification time
// differs from the loaded generation's.
func (d *DB) changed() bool {
	cur := d.cur.Load()
	differs := func(path string, s fileStamp) bool {
		if path == "" {
			return false
		}
		st, err := os.Stat(path)
		return err == nil && (st.Size() != s.size || !st.ModTime().Equal(s.modTime))
	}
	return differs(d.cfg.ASNDatabase, cur.asnStamp) || differs(d.cfg.CountryDatabase, cur.countryStamp)
}

// ReloadIfChanged reloads when a database file changed on disk since it was
// loaded; it returns whether it reloaded. Polling the files' stamps is
// cheaper and more portable than a file watcher, and databases change
// weekly at most.
func (d *DB) ReloadIfChanged() (bool, error) {
	if !d.cfg.Enabled() || !d.changed() {
		return false, nil
	}
	if err := d.Reload(); err != nil {
		return false, err
	}
	d.logger.Info("origin databases reloaded after a change on disk")
	return true, nil
}

// Lookup returns the origin of the prefix's first address. A lookup error
// (a corrupt record) gives an empty Info: origin is advice, and a broken
// record must not stop a scrape or a block.
func (d *DB) Lookup(p netip.Prefix) Info {
	if d == nil {
		return Info{}
	}
	dbs := d.cur.Load()
	addr := p.Masked().Addr()
	var info Info
	if dbs.asn != nil {
		var rec asnRecord
		if err := dbs.asn.Lookup(addr).Decode(&rec); err == nil {
			info.ASN, info.ASOrg = rec.Number, rec.Org
			if info.ASN == 0 && rec.IPinfoASN != "" {
				if n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(rec.IPinfoASN), "AS"), 10, 32); err == nil {
					info.ASN = uint32(n)
				}
			}
			if info.ASOrg == "" {
				info.ASOrg = rec.IPinfoName
				if info.ASOrg == "" {
					info.ASOrg = rec.IPinfoOrg
				}
			}
		}
	}
	if dbs.country != nil {
		res := dbs.country.Lookup(addr)
		var rec countryRecord
		if err := res.Decode(&rec); err == nil && rec.Country.ISOCode != "" {
			info.Country = strings.ToUpper(rec.Country.ISOCode)
		} else {
			var ir ipinfoCountryRecord
			if err := res.Decode(&ir); err == nil {
				info.Country = strings.ToUpper(ir.Country)
			}
		}
	}
	return info
}
