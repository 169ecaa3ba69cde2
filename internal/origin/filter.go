package origin

import (
	"fmt"
	"slices"
	"strings"
)

// Refusal reasons returned by Filter.Check; they are metric label values.
const (
	RefusedProtectedCountry = "origin_country_protected"
	RefusedProtectedASN     = "origin_asn_protected"
	RefusedNotListedCountry = "origin_country_not_listed"
	RefusedNotListedASN     = "origin_asn_not_listed"
	RefusedUnknown          = "origin_unknown"
)

// Filter is the responder's origin policy: the runbook's "is it foreign and
// does it have business here", as lists. Never-lists win over only-lists.
type Filter struct {
	// NeverCountries are countries never auto-blocked (the operator's own, say).
	NeverCountries []string `yaml:"never_block_countries"`
	// NeverASNs are ASes never auto-blocked (the upstream, partners, monitoring).
	NeverASNs []uint32 `yaml:"never_block_asns"`
	// OnlyCountries, when set, limits auto-blocks to these countries.
	OnlyCountries []string `yaml:"only_block_countries"`
	// OnlyASNs, when set, limits auto-blocks to these ASes.
	OnlyASNs []uint32 `yaml:"only_block_asns"`
	// RefuseUnknown refuses a prefix whose origin is unknown when any
	// only-list is set; without it an unknown origin passes the only-lists.
	RefuseUnknown bool `yaml:"refuse_unknown"`
}

// Validate checks country codes and normalises them to upper case.
func (f *Filter) Validate() error {
	for _, l := range []*[]string{&f.NeverCountries, &f.OnlyCountries} {
		for i, c := range *l {
			c = strings.ToUpper(strings.TrimSpace(c))
			if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
				return fmt.Errorf("country %q is not an ISO 3166-1 alpha-2 code", (*l)[i])
			}
			(*l)[i] = c
		}
	}
	for _, a := range append(slices.Clone(f.NeverASNs), f.OnlyASNs...) {
		if a == 0 {
			return fmt.Errorf("AS number 0 is reserved and cannot be listed")
		}
	}
	return nil
}

// Active reports whether the filter has any rule.
func (f Filter) Active() bool {
	return len(f.NeverCountries)+len(f.NeverASNs)+len(f.OnlyCountries)+len(f.OnlyASNs) > 0
}

// Check returns "" when a prefix of origin i may be auto-blocked, or the
// refusal reason.
func (f Filter) Check(i Info) string {
	if i.Country != "" && slices.Contains(f.NeverCountries, i.Country) {
		return RefusedProtectedCountry
	}
	if i.ASN != 0 && slices.Contains(f.NeverASNs, i.ASN) {
		return RefusedProtectedASN
	}
	if len(f.OnlyCountries) > 0 {
		switch {
		case i.Country == "" && f.RefuseUnknown:
			return RefusedUnknown
		case i.Country != "" && !slices.Contains(f.OnlyCountries, i.Country):
			return RefusedNotListedCountry
		}
	}
	if len(f.OnlyASNs) > 0 {
		switch {
		case i.ASN == 0 && f.RefuseUnknown:
			return RefusedUnknown
		case i.ASN != 0 && !slices.Contains(f.OnlyASNs, i.ASN):
			return RefusedNotListedASN
		}
	}
	return ""
}
