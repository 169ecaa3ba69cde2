// Package operatorapi is the responder's operator surface over HTTP: the
// list of blocks, manual block and unblock, and the pause switch, as JSON
// under /api/v1/, plus the adapter that feeds the status page. Changes need
// a JSON body or the DELETE method, which a cross-site form cannot send, and
// the API bearer token when one is configured.
package operatorapi
