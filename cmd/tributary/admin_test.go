package main

import (
	"net/http/httptest"
	"testing"
)

func TestAdminDenied(t *testing.T) {
	tests := []struct {
		name, remote, auth, token string
		allowed                   bool
	}{
		{"loopback without token", "127.0.0.1:5000", "", "", true},
		{"ipv6 loopback without token", "[::1]:5000", "", "", true},
		{"remote without token", "10.1.2.3:5000", "", "", false},
		{"remote with the token", "10.1.2.3:5000", "Bearer s3cret", "s3cret", true},
		{"loopback without the token when one is set", "127.0.0.1:5000", "", "s3cret", false},
		{"wrong token", "10.1.2.3:5000", "Bearer nope", "s3cret", false},
		{"not a bearer header", "10.1.2.3:5000", "s3cret", "s3cret", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/admin/sources/x/pause", nil)
			r.RemoteAddr = tc.remote
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			why := adminDenied(r, tc.token)
			if (why == "") != tc.allowed {
				t.Errorf("adminDenied = %q, want allowed=%v", why, tc.allowed)
			}
		})
	}
}
