package origin

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/synguard/synguard/internal/origin/origintest"
)

func writeDB(t testing.TB, path, dbType string, recs map[string]mmdbtype.Map) {
	t.Helper()
	if err := origintest.WriteDB(path, dbType, recs); err != nil {
		t.Fatal(err)
	}
}

func asnRec(n uint32, org string) mmdbtype.Map { return origintest.ASN(n, org) }

func countryRec(cc string) mmdbtype.Map { return origintest.Country(cc) }

func testDBs(t testing.TB) Config {
	dir := t.TempDir()
	cfg := Config{ASNDatabase: filepath.Join(dir, "asn.mmdb"), CountryDatabase: filepath.Join(dir, "country.mmdb")}
	writeDB(t, cfg.ASNDatabase, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"198.51.100.0/25": asnRec(64496, "Example Flood Net"),
		"203.0.113.0/24":  asnRec(64511, "Example Upstream"),
		"2001:db8:1::/48": asnRec(64500, "Example V6 Net"),
	})
	writeDB(t, cfg.CountryDatabase, "GeoLite2-Country", map[string]mmdbtype.Map{
		"198.51.100.0/24": countryRec("ZZ"),
		"203.0.113.0/24":  countryRec("de"),
		"2001:db8::/32":   countryRec("XA"),
	})
	return cfg
}

func TestLookup(t *testing.T) {
	db, err := Open(testDBs(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefix string
		want   Info
	}{
		{"198.51.100.32/27", Info{ASN: 64496, ASOrg: "Example Flood Net", Country: "ZZ"}},
		{"198.51.100.128/27", Info{Country: "ZZ"}}, // outside the AS's /25
		{"203.0.113.64/27", Info{ASN: 64511, ASOrg: "Example Upstream", Country: "DE"}},
		{"2001:db8:1:2::/64", Info{ASN: 64500, ASOrg: "Example V6 Net", Country: "XA"}},
		{"2001:db9::/64", Info{}},
		{"192.0.2.0/27", Info{}},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			got := db.Lookup(netip.MustParsePrefix(tt.prefix))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%s) (-want +got):\n%s", tt.prefix, diff)
			}
		})
	}
	if got := db.Lookup(netip.MustParsePrefix("198.51.100.32/27")).ASNLabel(); got != "64496" {
		t.Errorf("ASNLabel = %q", got)
	}
}

func TestOpenErrors(t *testing.T) {
	good := testDBs(t)
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.mmdb")
	b, err := os.ReadFile(good.ASNDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"missing", Config{ASNDatabase: filepath.Join(dir, "nope.mmdb")}},
		{"truncated", Config{ASNDatabase: truncated}},
		{"garbage", Config{CountryDatabase: garbage}},
		{"country file as ASN", Config{ASNDatabase: good.CountryDatabase}},
		{"ASN file as country", Config{CountryDatabase: good.ASNDatabase}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(tt.cfg, nil); err == nil {
				t.Fatalf("Open(%+v) succeeded, want error", tt.cfg)
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	db, err := Open(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := db.Lookup(netip.MustParsePrefix("198.51.100.32/27")); got.Known() {
		t.Errorf("disabled lookup = %+v", got)
	}
	var nilDB *DB
	if nilDB.Lookup(netip.MustParsePrefix("198.51.100.32/27")).Known() {
		t.Error("nil DB lookup knows something")
	}
}

func TestReload(t *testing.T) {
	cfg := testDBs(t)
	db, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("198.51.100.32/27")
	if reloaded, err := db.ReloadIfChanged(); err != nil || reloaded {
		t.Fatalf("unchanged files: reloaded=%v err=%v", reloaded, err)
	}
	// A new database version moves the /27 to another AS.
	writeDB(t, cfg.ASNDatabase, "GeoLite2-ASN", map[string]mmdbtype.Map{"198.51.100.0/24": asnRec(64499, "Example New Owner")})
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(cfg.ASNDatabase, future, future); err != nil {
		t.Fatal(err)
	}
	if reloaded, err := db.ReloadIfChanged(); err != nil || !reloaded {
		t.Fatalf("changed file: reloaded=%v err=%v", reloaded, err)
	}
	if got := db.Lookup(p).ASN; got != 64499 {
		t.Fatalf("after reload ASN = %d, want 64499", got)
	}
	// A broken file on reload keeps the previous database.
	if err := os.WriteFile(cfg.ASNDatabase, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReloadIfChanged(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	if got := db.Lookup(p).ASN; got != 64499 {
		t.Fatalf("after failed reload ASN = %d, want the previous 64499", got)
	}
}

func TestFilter(t *testing.T) {
	de := Info{ASN: 64511, Country: "DE"}
	zz := Info{ASN: 64496, Country: "ZZ"}
	unknown := Info{}
	tests := []struct {
		name string
		f    Filter
		in   Info
		want string
	}{
		{"no rules", Filter{}, zz, ""},
		{"own country protected", Filter{NeverCountries: []string{"DE"}}, de, RefusedProtectedCountry},
		{"foreign passes never-list", Filter{NeverCountries: []string{"DE"}}, zz, ""},
		{"upstream AS protected", Filter{NeverASNs: []uint32{64511}}, de, RefusedProtectedASN},
		{"only list passes", Filter{OnlyCountries: []string{"ZZ"}}, zz, ""},
		{"only list refuses", Filter{OnlyCountries: []string{"ZZ"}}, de, RefusedNotListedCountry},
		{"only ASN refuses", Filter{OnlyASNs: []uint32{64496}}, de, RefusedNotListedASN},
		{"unknown passes by default", Filter{OnlyCountries: []string{"ZZ"}}, unknown, ""},
		{"unknown refused on request", Filter{OnlyCountries: []string{"ZZ"}, RefuseUnknown: true}, unknown, RefusedUnknown},
		{"never wins over only", Filter{OnlyCountries: []string{"DE"}, NeverASNs: []uint32{64511}}, de, RefusedProtectedASN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Check(tt.in); got != tt.want {
				t.Errorf("Check(%+v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	f := Filter{NeverCountries: []string{" de "}}
	if err := f.Validate(); err != nil || f.NeverCountries[0] != "DE" {
		t.Errorf("Validate normalises: %v %v", err, f.NeverCountries)
	}
	for _, bad := range []Filter{{NeverCountries: []string{"Germany"}}, {OnlyCountries: []string{"1A"}}, {NeverASNs: []uint32{0}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", bad)
		}
	}
}

func BenchmarkLookup10k(b *testing.B) {
	cfg := testDBs(b)
	db, err := Open(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	ps := make([]netip.Prefix, 10000)
	for i := range ps {
		a := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		ps[i], _ = a.Prefix(27)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, p := range ps {
			_ = db.Lookup(p)
		}
	}
}
