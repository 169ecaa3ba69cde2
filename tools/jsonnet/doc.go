// Package jsonnet holds the tools module of synguard's monitoring mixin:
// go.mod's tool directive pins google/go-jsonnet (jsonnet, jsonnetfmt) so
// test/checks/mixin.sh evaluates mixin/ with a known version, outside the
// binaries' module graph. Its test evaluates the mixin with a changed
// _config and checks that every rule and panel follows it.
package jsonnet
