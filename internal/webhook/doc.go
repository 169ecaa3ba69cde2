// Package webhook receives Alertmanager's webhook notifications (version 4
// JSON) for the responder: it checks the optional bearer token and the body
// size, decodes the body into Alertmanager's own template types, refuses a
// malformed notification as a whole with a 4xx that says what is wrong (so
// nothing of it is half-applied), and hands the alerts of a good one to the
// responder, which answers 2xx with each alert's refusal counted.
package webhook
