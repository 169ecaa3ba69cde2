package bearer

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Valid reports whether r carries "Authorization: Bearer TOKEN" with this
// token. The comparison takes the same time wherever the two differ, so
// the answer's timing does not leak how much of a guess was right. An
// empty token is never valid: the caller decides first whether a route
// needs one.
func Valid(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}
