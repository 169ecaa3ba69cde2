package main

import "testing"

func TestParseFlagsBounds(t *testing.T) {
	good := []string{"-target", "192.0.2.9:80", "-bind", "192.0.2.11", "-rate", "500", "-seconds", "20"}
	if _, err := parseFlags(good); err != nil {
		t.Fatalf("parseFlags(%q): %v", good, err)
	}
	for _, args := range [][]string{
		{"-target", "10.0.0.1:80", "-bind", "192.0.2.11"},
		{"-target", "192.0.2.9:80", "-bind", "127.0.0.1"},
		{"-target", "192.0.2.9:80", "-bind", "192.0.2.11", "-rate", "5001"},
		{"-target", "192.0.2.9:80", "-bind", "192.0.2.11", "-rate", "0"},
		{"-target", "192.0.2.9:80", "-bind", "192.0.2.11", "-seconds", "601"},
		{"-target", "192.0.2.9", "-bind", "192.0.2.11"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}
