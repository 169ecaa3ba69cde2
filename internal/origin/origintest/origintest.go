// Package origintest writes small MaxMind-format databases for tests, so
// that no test depends on a downloaded GeoLite2 file.
package origintest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// ASN is an ASN database record.
func ASN(number uint32, org string) mmdbtype.Map {
	return mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(number), "autonomous_system_organization": mmdbtype.String(org)}
}

// Country is a Country database record.
func Country(iso string) mmdbtype.Map {
	return mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(iso)}}
}

// WriteDB writes a database of type dbType (for example "GeoLite2-ASN")
// holding one record per CIDR to path, atomically (temp file and rename),
// as a database update would arrive. Documentation ranges count as
// reserved to the writer, hence IncludeReservedNetworks.
func WriteDB(path, dbType string, recs map[string]mmdbtype.Map) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		Description:             map[string]string{"en": "synguard test " + dbType},
		IncludeReservedNetworks: true,
		RecordSize:              28,
		BuildEpoch:              1, // fixed, so a rewritten fixture is byte-identical
	})
	if err != nil {
		return fmt.Errorf("new %s tree: %w", dbType, err)
	}
	for cidr, rec := range recs {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return fmt.Errorf("parse %s: %w", cidr, err)
		}
		if err := tree.Insert(n, rec); err != nil {
			return fmt.Errorf("insert %s: %w", cidr, err)
		}
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Fixtures writes asn.mmdb and country.mmdb into dir with the origins the
// project's fixtures use: 203.0.113.32/27 floods from AS64496 in ZZ,
// 198.51.100.0/24 belongs to the operator's upstream AS64511 in DE, and
// 2001:db8:1::/48 to AS64500 in XA; everything else is unknown.
func Fixtures(dir string) (asnPath, countryPath string, err error) {
	asnPath, countryPath = filepath.Join(dir, "asn.mmdb"), filepath.Join(dir, "country.mmdb")
	if err := WriteDB(asnPath, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"203.0.113.32/27": ASN(64496, "Example Flood Net"),
		"198.51.100.0/24": ASN(64511, "Example Upstream"),
		"2001:db8:1::/48": ASN(64500, "Example V6 Net"),
	}); err != nil {
		return "", "", err
	}
	if err := WriteDB(countryPath, "GeoLite2-Country", map[string]mmdbtype.Map{
		"203.0.113.0/26":  Country("ZZ"),
		"198.51.100.0/24": Country("DE"),
		"2001:db8::/32":   Country("XA"),
	}); err != nil {
		return "", "", err
	}
	return asnPath, countryPath, nil
}
