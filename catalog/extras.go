package catalog

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Wildcard is the model name that makes a provider accept any upstream id.
const Wildcard = "*"

// DefaultWildcardLimit is how many distinct wildcard ids a provider keeps at once by default.
const DefaultWildcardLimit = 1024

// MaxUpstreamIDLength bounds a wildcard upstream id, in bytes.
const MaxUpstreamIDLength = 256

// ErrBadUpstreamID is returned by CheckUpstreamID.
var ErrBadUpstreamID = errors.New("an upstream model id has 1 to 256 of the characters A-Z a-z 0-9 . _ - : / @ + ~, and does not start with '/'")

// CheckUpstreamID reports whether id may be sent upstream as a wildcard model id: bounded,
// and made of the characters real ids use (`meta-llama/llama-3.3-70b-instruct`, `qwen2.5:7b`,
// `accounts/fireworks/models/x`), so it needs no escaping anywhere it goes.
func CheckUpstreamID(id string) error {
	if id == "" || len(id) > MaxUpstreamIDLength || id[0] == '/' {
		return ErrBadUpstreamID
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-', c == ':', c == '/', c == '@', c == '+', c == '~':
		default:
			return ErrBadUpstreamID
		}
	}
	return nil
}

// WildcardTargets makes the targets that serve upstream id up on a wildcard provider: one per
// key and node, in the same order and with the same StateIDs as listed models get, so their
// health is shared with a listed model of the same id and survives reloads. Their Model is
// `<provider>/<id>`. The caller checks id with CheckUpstreamID first.
func (p *Provider) WildcardTargets(up string) []*Target {
	name := p.Name + "/" + up
	keys := p.keys
	if len(keys) == 0 {
		keys = []providerKey{{}}
	}
	out := make([]*Target, 0, len(keys)*len(p.Nodes))
	for _, k := range keys {
		for ni, node := range p.Nodes {
			out = append(out, &Target{
				Provider:    p,
				Node:        node,
				Model:       name,
				Upstream:    up,
				Fingerprint: k.fingerprint,
				Label:       targetLabel(p.Name, ni, k.fingerprint),
				StateID:     hashID("target", node, k.key, up),
				KeyStateID:  k.stateID,
				key:         k.key,
			})
		}
	}
	return out
}

// ExtraHeaders returns the headers sent on every request to the provider, canonical and
// resolved. They may hold secrets: callers must not log them. Callers must not modify them.
func (p *Provider) ExtraHeaders() http.Header { return p.headers }

// ExtraQuery returns the encoded query added to every request URL to the provider ("" for
// none). It may hold secrets: callers must not log it.
func (p *Provider) ExtraQuery() string { return p.query }

// SecretValues returns the values of the provider's headers and query parameters that came
// from placeholders ({env.X}, {file.X}): they are treated as secrets, like keys, and removed from
// upstream text before anyone sees it. Callers must not log them.
func (p *Provider) SecretValues() []string { return p.secrets }

// noteSecret records v as a secret when it was resolved from a placeholder in raw.
func (p *Provider) noteSecret(raw, v string) {
	if v != "" && v != raw {
		p.secrets = append(p.secrets, v)
	}
}

// reservedHeaders may not be set with `header`: the router owns them.
var reservedHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Host": true, "Content-Length": true, "Content-Type": true,
}

// extras resolves and checks a provider's extra headers and query. Errors name the header or
// parameter, never its value.
func (b *builder) extras(pc *ProviderConfig, p *Provider) error {
	if len(pc.Headers) > 0 {
		p.headers = make(http.Header, len(pc.Headers))
		for _, name := range sortedKeys(pc.Headers) {
			if !validToken(name) {
				return fmt.Errorf("provider %q: header %q is not a valid header name", pc.Name, clip(name, 64))
			}
			canon := http.CanonicalHeaderKey(name)
			switch {
			case canon == p.KeyHeader:
				return fmt.Errorf("provider %q: header %s carries the key: set it with keys (or key_header)", pc.Name, canon)
			case reservedHeaders[canon]:
				return fmt.Errorf("provider %q: header %s is the router's to set", pc.Name, canon)
			case p.headers[canon] != nil:
				return fmt.Errorf("provider %q: header %s given twice", pc.Name, canon)
			}
			v := b.resolve(pc.Headers[name])
			if strings.ContainsAny(v, "\r\n\x00") {
				return fmt.Errorf("provider %q: header %s: its value holds a line break or NUL", pc.Name, canon)
			}
			p.headers[canon] = []string{v}
			p.noteSecret(pc.Headers[name], v)
		}
	}
	if len(pc.Query) > 0 {
		q := make(url.Values, len(pc.Query))
		for _, name := range sortedKeys(pc.Query) {
			if name == "" {
				return fmt.Errorf("provider %q: query parameter without a name", pc.Name)
			}
			v := b.resolve(pc.Query[name])
			q.Set(name, v)
			p.noteSecret(pc.Query[name], v)
		}
		p.query = q.Encode()
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), as header names are.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
