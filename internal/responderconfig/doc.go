// Package responderconfig is synguard-responder's configuration file: its
// types, defaults and validation (every mistake reported as file:line:
// reason), and its translation into the policy, webhook and firewalld
// settings the responder's packages take.
package responderconfig
