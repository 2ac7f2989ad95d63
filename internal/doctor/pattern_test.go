package doctor

import "testing"

func TestDoctorMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*.jpg", "images/a/b.jpg", true},
		{"*.jpg", "LOGO.JPG", false},
		{"images/*.jpg", "images/product1/x.jpg", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"api/*", "api", false},
		{"api*", "api", true},
		{"*a*b*c*", "xxaxxbxxcxx", true},
		{"*a*b*c*", "xxaxxcxxbxx", false},
		{"AWSALBAPP-*", "AWSALBAPP-3", true},
	}
	for _, tt := range tests {
		if got := matchGlob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestDoctorPatternRelations(t *testing.T) {
	tests := []struct {
		name      string
		got, want bool
	}{
		{"*.css covers /account/*.css", covers("*.css", "/account/*.css"), true},
		{"/api/* covers /api/v1/*", covers("/api/*", "api/v1/*"), true},
		{"/account/*.css does not cover *.css", covers("/account/*.css", "*.css"), false},
		{"/api/* does not cover /apix/*", covers("/api/*", "/apix/*"), false},
		// ? is one character: it does not take a * that may be many.
		{"/v?/* does not cover /v*/*", covers("/v?/*", "/v*/*"), false},
		{"/a?c does not cover /a*c", covers("/a?c", "/a*c"), false},
		{"/v?/* covers /v1/*", covers("/v?/*", "/v1/*"), true},
		{"/v?/* covers /v?/x", covers("/v?/*", "/v?/x"), true},
		{"/v*/* covers /v?/*", covers("/v*/*", "/v?/*"), true},
		{"/a/b does not cover /a/?", covers("/a/b", "/a/?"), false},
		{"* covers everything", covers("*", "/x?/*/y"), true},
		{"*.css is extension-only", extensionOnly("*.css"), true},
		{"/img/*.png is not extension-only", extensionOnly("/img/*.png"), false},
		{"/static/* looks static", (&Behavior{Path: "/static/*"}).looksStatic(), true},
		{"/api/* does not look static", (&Behavior{Path: "/api/*"}).looksStatic(), false},
		{"/account/* is sensitive", sensitivePrefix("/account/*") == "/account", true},
		{"/accounting/* is not sensitive", sensitivePrefix("/accounting/*") == "", true},
		{"*.css may reach /account/*", overlaps("*.css", "/account/*"), true},
		{"/static/* cannot reach /api/*", overlaps("/static/*", "/api/*"), false},
		{"/login* reaches the exact /login", overlaps("/login*", "/login"), true},
		{"/api/v1/* is taken whole by route /api/*", routeCovers("/api/v1/*", "/api/*"), true},
		{"* is not taken whole by route /api/*", routeCovers("*", "/api/*"), false},
		{"an earlier /account/* takes route /account/*", reaches("*", "/account/*", []string{"/account/*"}), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v", tt.name, tt.got)
		}
	}
}
