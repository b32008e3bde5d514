package gate

import (
	"path"
	"strings"
)

// PublicPaths holds the request paths that need no gateway key: exact paths, and prefixes
// written with a trailing "*" ("/health/*" matches "/health/x" but not "/health"; "*" alone
// matches every path). The zero value matches nothing.
type PublicPaths struct {
	exact    map[string]struct{}
	prefixes []string
}

// NewPublicPaths prepares the configured paths; empty entries are skipped.
func NewPublicPaths(paths []string) PublicPaths {
	var p PublicPaths
	for _, s := range paths {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if prefix, ok := strings.CutSuffix(s, "*"); ok {
			p.prefixes = append(p.prefixes, prefix)
			continue
		}
		if p.exact == nil {
			p.exact = make(map[string]struct{})
		}
		p.exact[s] = struct{}{}
	}
	return p
}

// Match reports whether path is public. path is the decoded URL path (r.URL.Path). A path that
// is not in clean form ("//", "." or ".." segments) is never public, so "/health/../v1/chat"
// cannot slip past the key check by matching a public prefix.
func (p PublicPaths) Match(path string) bool {
	if len(p.exact) == 0 && len(p.prefixes) == 0 {
		return false
	}
	if !isClean(path) {
		return false
	}
	if _, ok := p.exact[path]; ok {
		return true
	}
	for _, prefix := range p.prefixes {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// isClean accepts a trailing slash, which path.Clean would remove but which is harmless.
func isClean(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	trimmed := p
	if len(p) > 1 {
		trimmed = strings.TrimSuffix(p, "/")
	}
	return path.Clean(trimmed) == trimmed
}
