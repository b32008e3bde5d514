package gate

import "testing"

func TestPublicPaths(t *testing.T) {
	p := NewPublicPaths([]string{"/health", "/v1/models", "/docs/*", "", "  "})
	tests := []struct {
		path string
		want bool
	}{
		{"/health", true},
		{"/health/", false}, // exact means exact
		{"/healthz", false},
		{"/v1/models", true},
		{"/v1/models/gpt-4o", false},
		{"/docs/", true},
		{"/docs/a/b.html", true},
		{"/docs/a/", true}, // a trailing slash is clean
		{"/docs", false},   // the prefix includes its slash
		{"/v1/chat/completions", false},
		{"/docs/../v1/chat/completions", false}, // dot segments are never public
		{"/docs/./x", false},
		{"/docs//x", false},
		{"//health", false},
		{"health", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := p.Match(tt.path); got != tt.want {
			t.Errorf("Match(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestPublicPathsEdges(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		path  string
		want  bool
	}{
		{"zero value", nil, "/health", false},
		{"star matches all", []string{"*"}, "/v1/chat/completions", true},
		{"star still refuses dot segments", []string{"*"}, "/a/../b", false},
		{"root exact", []string{"/"}, "/", true},
		{"root exact only", []string{"/"}, "/x", false},
		{"prefix without slash", []string{"/v1/models*"}, "/v1/models/x", true},
		{"prefix without slash, bare", []string{"/v1/models*"}, "/v1/models", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewPublicPaths(tt.paths).Match(tt.path); got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
	var zero PublicPaths
	if zero.Match("/") {
		t.Error("zero PublicPaths matched")
	}
}
