package gate

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

const (
	secretA = "sk-gw-alpha-0123456789abcdef"
	secretB = "sk-gw-bravo-fedcba9876543210"
)

func testKeys(t testing.TB) *Keys {
	t.Helper()
	k, err := NewKeys([]Key{
		{Name: "alpha", Secret: secretA, RPM: 60},
		{Name: "bravo", Secret: secretB, Models: []string{"gpt-4o"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestAuthenticate(t *testing.T) {
	k := testKeys(t)
	tests := []struct {
		name   string
		h      http.Header
		want   string // client name; "" when refused
		reason string
	}{
		{"no header", header(), "", ReasonMissing},
		{"empty authorization", header("Authorization", ""), "", ReasonMissing},
		{"empty bearer", header("Authorization", "Bearer "), "", ReasonMissing},
		{"bearer without token", header("Authorization", "Bearer"), "", ReasonMissing},
		{"basic scheme", header("Authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"), "", ReasonUnsupported},
		{"scheme glued to key", header("Authorization", "Bearer"+secretA), "", ReasonUnsupported},
		{"bare key in authorization", header("Authorization", secretA), "", ReasonUnsupported},
		{"wrong key", header("Authorization", "Bearer sk-gw-nope"), "", ReasonInvalid},
		{"prefix of a real key", header("Authorization", "Bearer "+secretA[:len(secretA)-1]), "", ReasonInvalid},
		{"real key plus suffix", header("Authorization", "Bearer "+secretA+"0"), "", ReasonInvalid},
		{"key in other case", header("Authorization", "Bearer "+strings.ToUpper(secretA)), "", ReasonInvalid},
		{"bearer", header("Authorization", "Bearer "+secretA), "alpha", ""},
		{"lower-case bearer", header("Authorization", "bearer "+secretA), "alpha", ""},
		{"upper-case bearer", header("Authorization", "BEARER "+secretB), "bravo", ""},
		{"extra spaces", header("Authorization", "  Bearer    "+secretA+"  "), "alpha", ""},
		{"tab after scheme", header("Authorization", "Bearer\t"+secretA), "alpha", ""},
		{"x-api-key", header("x-api-key", secretB), "bravo", ""},
		{"x-api-key spaces", header("X-API-KEY", " "+secretB+" "), "bravo", ""},
		{"api-key", header("api-key", secretA), "alpha", ""},
		{"wrong x-api-key", header("x-api-key", "nope"), "", ReasonInvalid},
		{"wrong api-key", header("api-key", "nope"), "", ReasonInvalid},
		{"x-goog-api-key", header("x-goog-api-key", secretB), "bravo", ""},
		// Several credentials (the Anthropic SDKs send Authorization and x-api-key when given
		// both): the first that is a gateway key admits, in header order.
		{"x-goog-api-key after a wrong api-key", header("api-key", "nope", "x-goog-api-key", secretA), "alpha", ""},
		{"x-api-key after a wrong bearer", header("Authorization", "Bearer nope", "x-api-key", secretA), "alpha", ""},
		{"api-key after a wrong x-api-key", header("x-api-key", "nope", "api-key", secretA), "alpha", ""},
		{"bearer before x-api-key", header("Authorization", "Bearer "+secretB, "x-api-key", secretA), "bravo", ""},
		{"every credential wrong", header("Authorization", "Bearer nope", "x-api-key", "nope2", "api-key", "nope3", "x-goog-api-key", "nope4"), "", ReasonInvalid},
		{"empty bearer falls to x-api-key", header("Authorization", "Bearer ", "x-api-key", secretA), "alpha", ""},
		{"basic plus x-api-key", header("Authorization", "Basic abc", "x-api-key", secretB), "bravo", ""},
		{"basic plus wrong x-api-key", header("Authorization", "Basic abc", "x-api-key", "nope"), "", ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, reason := k.Authenticate(tt.h)
			if reason != tt.reason {
				t.Errorf("reason = %q, want %q", reason, tt.reason)
			}
			switch {
			case tt.want == "" && c != nil:
				t.Errorf("got client %q, want none", c.Name)
			case tt.want != "" && c == nil:
				t.Errorf("got no client, want %q", tt.want)
			case tt.want != "" && c.Name != tt.want:
				t.Errorf("got client %q, want %q", c.Name, tt.want)
			}
		})
	}
}

func TestAuthenticateNoKeys(t *testing.T) {
	for _, k := range []*Keys{nil, mustKeys(t, nil)} {
		if c, reason := k.Authenticate(header("Authorization", "Bearer x")); c != nil || reason != ReasonInvalid {
			t.Errorf("Authenticate = %v, %q; want nil, %q", c, reason, ReasonInvalid)
		}
		if k.Len() != 0 {
			t.Errorf("Len = %d, want 0", k.Len())
		}
	}
}

func mustKeys(t testing.TB, keys []Key) *Keys {
	t.Helper()
	k, err := NewKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The match is selected without branching, so every position must come back as itself.
func TestAuthenticateEveryPosition(t *testing.T) {
	keys := manyKeys(100)
	k := mustKeys(t, keys)
	if k.Len() != len(keys) {
		t.Fatalf("Len = %d, want %d", k.Len(), len(keys))
	}
	for _, key := range keys {
		c, reason := k.Authenticate(header("Authorization", "Bearer "+key.Secret))
		if c == nil || c.Name != key.Name || c.RPM != key.RPM {
			t.Fatalf("key %s: got %+v (%q)", key.Name, c, reason)
		}
	}
}

func manyKeys(n int) []Key {
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = Key{Name: fmt.Sprintf("key-%03d", i), Secret: fmt.Sprintf("sk-gw-%03d-secret-value", i), RPM: i}
	}
	return keys
}

func TestAuthenticateTrimsConfiguredSecret(t *testing.T) {
	k := mustKeys(t, []Key{{Name: "file", Secret: "  sk-from-file\r\n"}})
	if c, _ := k.Authenticate(header("Authorization", "Bearer sk-from-file")); c == nil {
		t.Fatal("a secret read with a trailing newline must still match")
	}
}

func TestAuthenticateDoesNotAllocate(t *testing.T) {
	k := mustKeys(t, manyKeys(10))
	h := header("Authorization", "Bearer sk-gw-009-secret-value")
	if n := testing.AllocsPerRun(100, func() { k.Authenticate(h) }); n != 0 {
		t.Errorf("Authenticate allocates %v times per call", n)
	}
}

func TestNewKeysErrors(t *testing.T) {
	tests := []struct {
		name string
		keys []Key
		want []string // substrings of the error
	}{
		{"empty name", []Key{{Secret: secretA}}, []string{"gateway key 1: empty name"}},
		{"duplicate name", []Key{{Name: "a", Secret: secretA}, {Name: "a", Secret: secretB}}, []string{`"a": duplicate name`}},
		{"empty secret", []Key{{Name: "a", Secret: " \n"}}, []string{`"a": empty secret`}},
		{"control characters", []Key{{Name: "a", Secret: "sk-\x00-" + secretA}}, []string{`"a": secret contains control characters`}},
		{"negative rpm", []Key{{Name: "a", Secret: secretA, RPM: -1}}, []string{`"a": rpm must be`, "got -1"}},
		{"rpm too high", []Key{{Name: "a", Secret: secretA, RPM: MaxRPM + 1}}, []string{`"a": rpm must be`}},
		{"empty model", []Key{{Name: "a", Secret: secretA, Models: []string{"gpt-4o", ""}}}, []string{`"a": empty model name`}},
		{"duplicate secret", []Key{{Name: "a", Secret: secretA}, {Name: "b", Secret: secretB}, {Name: "c", Secret: secretA}},
			[]string{`gateway key "a" and gateway key "c" have the same secret`}},
		{"duplicate secret after trim", []Key{{Name: "a", Secret: secretA}, {Name: "b", Secret: secretA + "\n"}},
			[]string{`"a" and gateway key "b" have the same secret`}},
		{"duplicate secret unnamed", []Key{{Secret: secretA}, {Secret: secretA}},
			[]string{"gateway key 1 and gateway key 2 have the same secret"}},
		{"all problems at once", []Key{{Name: "a", Secret: secretA, RPM: -5}, {Name: "a", Secret: secretA}},
			[]string{"rpm must be", "duplicate name", "same secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKeys(tt.keys)
			if err == nil {
				t.Fatalf("NewKeys = %v, want an error", k)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, key := range tt.keys {
				if s := strings.TrimSpace(key.Secret); s != "" && strings.Contains(msg, s[3:]) {
					t.Errorf("error %q contains a secret", msg)
				}
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	k := testKeys(t)
	again := testKeys(t)
	a, b := &k.clients[0], &k.clients[1]
	if len(a.Fingerprint) != 12 || a.Fingerprint == b.Fingerprint {
		t.Errorf("fingerprints %q and %q: want 12 hex digits, distinct", a.Fingerprint, b.Fingerprint)
	}
	if a.Fingerprint != again.clients[0].Fingerprint {
		t.Error("fingerprint is not stable across NewKeys calls")
	}
	if strings.Contains(secretA, a.Fingerprint) {
		t.Error("fingerprint is part of the secret")
	}
}

func TestClientAllows(t *testing.T) {
	scoped := &Client{models: map[string]struct{}{
		"gpt-4o":              {},
		"fast":                {}, // an alias
		"groq/llama-3.3-70b":  {},
		"meta/llama-3.1-405b": {},
		"openrouter/*":        {}, // every name through openrouter
	}}
	all := &Client{}
	tests := []struct {
		c     *Client
		model string
		want  bool
	}{
		{all, "anything", true},
		{all, "openai/gpt-4o", true},
		{all, "", false},
		{nil, "gpt-4o", false},
		{scoped, "gpt-4o", true},
		{scoped, "fast", true},
		{scoped, "openai/gpt-4o", true},      // bare model after the slash is allowed
		{scoped, "azure/gpt-4o", true},       // through any provider
		{scoped, "groq/llama-3.3-70b", true}, // the full name is allowed
		{scoped, "llama-3.3-70b", false},     // but not the bare name, which reaches other providers
		{scoped, "nvidia/llama-3.3-70b", false},
		{scoped, "meta/llama-3.1-405b", true}, // a configured name with a slash matches whole
		{scoped, "nvidia/meta/llama-3.1-405b", true},
		{scoped, "gpt-4o-mini", false},
		{scoped, "GPT-4o", false},
		{scoped, "gpt-4o/", false},
		{scoped, "/gpt-4o", true},
		{scoped, "", false},
		{scoped, "openrouter/meta-llama/llama-3.3-70b-instruct", true},
		{scoped, "openrouter/x", true},
		{scoped, "openrouter/", false},
		{scoped, "meta-llama/llama-3.3-70b-instruct", false},
		{scoped, "groq/anything", false},
	}
	for _, tt := range tests {
		if got := tt.c.Allows(tt.model); got != tt.want {
			name := "scoped"
			if tt.c == all {
				name = "all"
			} else if tt.c == nil {
				name = "nil"
			}
			t.Errorf("%s.Allows(%q) = %v, want %v", name, tt.model, got, tt.want)
		}
	}
}

// Models configured on a Key reach the Client that Authenticate returns.
func TestAuthenticateCarriesScope(t *testing.T) {
	k := testKeys(t)
	c, _ := k.Authenticate(header("x-api-key", secretB))
	if c == nil || !c.Allows("gpt-4o") || c.Allows("claude-sonnet-4") {
		t.Fatalf("bravo scope not applied: %+v", c)
	}
	c, _ = k.Authenticate(header("x-api-key", secretA))
	if c == nil || !c.Allows("claude-sonnet-4") || c.RPM != 60 {
		t.Fatalf("alpha should allow every model with rpm 60: %+v", c)
	}
}

func FuzzAuthenticate(f *testing.F) {
	f.Add("Bearer "+secretA, "", "")
	f.Add("", secretB, "")
	f.Add("Basic x", "", secretA)
	f.Add("bearer\t\t"+secretA+" ", "", "")
	k := mustKeys(f, []Key{{Name: "alpha", Secret: secretA}, {Name: "bravo", Secret: secretB}})
	f.Fuzz(func(t *testing.T, auth, xAPIKey, apiKey string) {
		h := header("Authorization", auth, "X-Api-Key", xAPIKey, "Api-Key", apiKey)
		c, reason := k.Authenticate(h)
		if (c == nil) == (reason == "") {
			t.Fatalf("client %v with reason %q", c, reason)
		}
		if c == nil {
			return
		}
		secret := secretA
		if c.Name == "bravo" {
			secret = secretB
		}
		if !strings.Contains(auth+xAPIKey+apiKey, secret) {
			t.Fatalf("authenticated as %s without presenting its secret", c.Name)
		}
	})
}

func TestKeysClientsInConfigOrder(t *testing.T) {
	k, err := NewKeys([]Key{{Name: "a", Secret: "sa", RPM: 5}, {Name: "b", Secret: "sb"}})
	if err != nil {
		t.Fatal(err)
	}
	cs := k.Clients()
	if len(cs) != 2 || cs[0].Name != "a" || cs[0].RPM != 5 || cs[1].Name != "b" {
		t.Fatalf("clients %+v", cs)
	}
	// The same values Authenticate hands out: a limiter keyed by one is found by the other.
	got, _ := k.Authenticate(http.Header{"Authorization": {"Bearer sb"}})
	if got != cs[1] {
		t.Errorf("Authenticate returned %p, Clients()[1] is %p", got, cs[1])
	}
	if (*Keys)(nil).Clients() != nil {
		t.Error("nil Keys has clients")
	}
}
