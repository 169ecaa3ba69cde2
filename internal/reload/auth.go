package reload

import (
	"net/http"

	"github.com/synguard/synguard/internal/bearer"
)

// RequireBearer wraps next (a Reloader) so that a request must carry
// "Authorization: Bearer TOKEN" with the token token returns at that
// moment (it may change on a reload); a missing or wrong one is answered
// 401 before anything else. An empty token checks nothing: the binary's
// configuration decided the route needs none (client certificates verify
// every connection, or the operator opened it by name).
func RequireBearer(token func() string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := token()
		if want != "" {
			if !bearer.Valid(r, want) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="reload"`)
				http.Error(w, "reload needs the bearer token (Authorization: Bearer ...)", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
