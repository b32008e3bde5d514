// Package gate is the client-facing gate of the router: gateway keys, public paths, an IP
// allowlist, per-key model scopes and per-key request rates. It decides who may call the router
// before any body is read. It has no Caddy imports: the root package resolves key references
// and the client address and keeps Limiters across config reloads.
package gate

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Key is one gateway key as configured. Secret is the resolved credential.
type Key struct {
	// Name is shown in logs and metrics in place of the secret.
	Name string
	// Secret is the credential clients present. Surrounding white space is ignored, because a
	// key read from a file often ends with a newline and a header value never carries one.
	Secret string
	// Models lists the public model names or aliases this key may use; empty means all.
	Models []string
	// RPM is the number of requests per rolling minute; 0 means unlimited.
	RPM int
}

// Client is the authenticated caller. The Keys that returned it share it between requests, so
// it must be treated as read-only.
type Client struct {
	// Name is the configured key name.
	Name string
	// RPM is the configured requests per minute; 0 means unlimited.
	RPM int
	// Fingerprint is a short, stable, non-reversible tag of the secret (12 hex digits). It tells
	// two keys of the same name apart across reloads, e.g. in the key of a Limiter store.
	Fingerprint string

	models map[string]struct{} // nil: every model
}

// Allows reports whether the client may use the model name. Names match the configured ones
// exactly. A "provider/model" name is also allowed when the bare model after the first slash is
// allowed: a key scoped to a model may reach it through any provider, but a key scoped to
// "groq/x" may not use the bare "x", which could route to other providers. "groq/*" allows every
// name through groq: its listed models and, with `model *`, any upstream id.
func (c *Client) Allows(model string) bool {
	if c == nil || model == "" {
		return false
	}
	if c.models == nil {
		return true
	}
	if _, ok := c.models[model]; ok {
		return true
	}
	if prov, bare, ok := strings.Cut(model, "/"); ok && bare != "" {
		if _, ok := c.models[bare]; ok {
			return true
		}
		// `provider/*` allows every id of a `model *` provider.
		_, ok := c.models[prov+"/*"]
		return ok
	}
	return false
}

// Reasons returned by Authenticate. They are safe to show to the client.
const (
	// ReasonMissing: no header carried a credential.
	ReasonMissing = "missing credential"
	// ReasonInvalid: the credential matched no key.
	ReasonInvalid = "invalid credential"
	// ReasonUnsupported: only an Authorization header with a scheme other than Bearer.
	ReasonUnsupported = "unsupported authorization scheme"
)

// Keys holds the configured gateway keys. It is immutable after NewKeys and safe for
// concurrent use.
type Keys struct {
	digests [][sha256.Size]byte // digests[i] belongs to clients[i]
	clients []Client
}

// NewKeys validates keys (non-empty unique names, non-empty unique secrets, 0 <= rpm <= MaxRPM,
// non-empty model names) and prepares them. Secrets are kept only as SHA-256 digests; errors
// name keys by name or position and never include a secret. All problems are reported at once.
func NewKeys(keys []Key) (*Keys, error) {
	k := &Keys{
		digests: make([][sha256.Size]byte, 0, len(keys)),
		clients: make([]Client, 0, len(keys)),
	}
	names := make(map[string]struct{}, len(keys))
	owners := make(map[[sha256.Size]byte]string, len(keys))
	var errs []error
	for i, key := range keys {
		label := fmt.Sprintf("gateway key %d", i+1)
		if key.Name == "" {
			errs = append(errs, fmt.Errorf("%s: empty name", label))
		} else {
			label = fmt.Sprintf("gateway key %q", key.Name)
			if _, dup := names[key.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: duplicate name", label))
			}
			names[key.Name] = struct{}{}
		}
		secret := strings.TrimSpace(key.Secret)
		switch {
		case secret == "":
			errs = append(errs, fmt.Errorf("%s: empty secret", label))
		case !headerSafe(secret):
			// Such a secret could never arrive in a header; most likely a binary file was read.
			errs = append(errs, fmt.Errorf("%s: secret contains control characters", label))
		}
		if key.RPM < 0 || key.RPM > MaxRPM {
			errs = append(errs, fmt.Errorf("%s: rpm must be 0 (unlimited) to %d, got %d", label, MaxRPM, key.RPM))
		}
		var models map[string]struct{}
		if len(key.Models) > 0 {
			models = make(map[string]struct{}, len(key.Models))
			for _, m := range key.Models {
				if strings.TrimSpace(m) == "" {
					errs = append(errs, fmt.Errorf("%s: empty model name", label))
					continue
				}
				models[m] = struct{}{}
			}
		}
		d := sha256.Sum256([]byte(secret))
		if secret != "" {
			if other, dup := owners[d]; dup {
				errs = append(errs, fmt.Errorf("%s and %s have the same secret", other, label))
			} else {
				owners[d] = label
			}
		}
		k.digests = append(k.digests, d)
		k.clients = append(k.clients, Client{
			Name:        key.Name,
			RPM:         key.RPM,
			Fingerprint: fingerprint(secret),
			models:      models,
		})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("gate: %w", errors.Join(errs...))
	}
	return k, nil
}

// fingerprint is domain-separated from the digest used for authentication, so the tag shown in
// logs or store keys says nothing about the stored digests.
func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte("caddy-llm-router gateway key fingerprint\x00" + secret))
	return hex.EncodeToString(sum[:6])
}

func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// Clients returns the configured clients in config order, the same values Authenticate
// returns; read-only.
func (k *Keys) Clients() []*Client {
	if k == nil {
		return nil
	}
	out := make([]*Client, len(k.clients))
	for i := range k.clients {
		out[i] = &k.clients[i]
	}
	return out
}

// Len returns the number of configured keys.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.clients)
}

// Authenticate finds the client for a credential in h. A credential may come as
// "Authorization: Bearer <k>" (scheme case-insensitive), "x-api-key: <k>" (Anthropic SDKs),
// "api-key: <k>" (Azure style) or "x-goog-api-key: <k>" (Google's SDKs). A client may send
// more than one (the Anthropic SDKs send both of the first two when given an API key and an
// auth token, one of them perhaps a stale token from the environment), so the first, in that
// order, that is a gateway key admits the request. Each presented value is hashed once and
// compared in constant time with every digest, without early exit, so timing tells neither
// which key nearly matched nor its position. On failure it returns nil and one of the Reason
// constants.
func (k *Keys) Authenticate(h http.Header) (*Client, string) {
	c, _, reason := k.match(h)
	return c, reason
}

// DropCredential removes from h the header whose credential Authenticate admitted: a request
// the gateway key admitted to another handler must not carry the key on (a reverse_proxy
// would send it to its backend). Another credential, such as a Basic Authorization header
// beside an x-api-key, stays.
func (k *Keys) DropCredential(h http.Header) {
	if _, name, _ := k.match(h); name != "" {
		delete(h, name)
	}
}

// credentialHeaders are the headers a credential may come in, in the order they are tried.
var credentialHeaders = [...]string{"Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key"}

// match returns the client of the first credential in h that is a gateway key, and the header
// it came in.
func (k *Keys) match(h http.Header) (c *Client, header, reason string) {
	reason = ReasonMissing
	for _, name := range credentialHeaders {
		cred, unsupported := credentialIn(h, name)
		if cred == "" {
			if unsupported && reason == ReasonMissing {
				reason = ReasonUnsupported
			}
			continue
		}
		reason = ReasonInvalid
		if k == nil || len(k.digests) == 0 {
			continue
		}
		d := sha256.Sum256([]byte(cred))
		found := -1
		for i := range k.digests {
			eq := subtle.ConstantTimeCompare(d[:], k.digests[i][:])
			found = subtle.ConstantTimeSelect(eq, i, found)
		}
		if found >= 0 {
			return &k.clients[found], name, ""
		}
	}
	return nil, "", reason
}

// credentialIn returns the credential offered in header name of h, if any. An Authorization
// header offers one only with the Bearer scheme: another scheme is unsupported.
func credentialIn(h http.Header, name string) (cred string, unsupported bool) {
	v := strings.TrimSpace(h.Get(name))
	if name != "Authorization" || v == "" {
		return v, false
	}
	scheme, rest := v, ""
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		scheme, rest = v[:i], v[i+1:]
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(rest), false
}
