// Package bearer checks the bearer token of an HTTP request, the one
// comparison the responder's webhook, operator API and reload route share;
// each answers a refusal in its own format.
package bearer
