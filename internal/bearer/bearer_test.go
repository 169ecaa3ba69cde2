package bearer

import (
	"net/http/httptest"
	"testing"
)

func TestValid(t *testing.T) {
	for _, tt := range []struct {
		header, token string
		want          bool
	}{
		{"Bearer s3cret", "s3cret", true},
		{"", "s3cret", false},
		{"Bearer", "s3cret", false},
		{"Bearer ", "s3cret", false},
		{"Bearer s3cre", "s3cret", false},
		{"Bearer s3crets", "s3cret", false},
		{"bearer s3cret", "s3cret", false},
		{"Basic czNjcmV0", "s3cret", false},
		{"Bearer ", "", false},
	} {
		r := httptest.NewRequest("POST", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		if got := Valid(r, tt.token); got != tt.want {
			t.Errorf("Authorization %q, token %q: %v, want %v", tt.header, tt.token, got, tt.want)
		}
	}
}
