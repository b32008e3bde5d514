package redact

import (
	"bytes"
	"strings"
	"testing"
)

const key = "sk-Wq2eR5tY8uI1oP3aS6dF9gH2jK4lZ7xC0vB5nM8qW1eR3tY6u7dP6hh"

func TestRedact(t *testing.T) {
	s := New(key)
	for _, tc := range []struct{ name, in, want string }{
		{"whole key", `{"error":{"message":"Incorrect API key provided: ` + key + `."}}`,
			`{"error":{"message":"Incorrect API key provided: [redacted]."}}`},
		{"masked as in the issue", `{"error":{"message":"Incorrect API key provided: sk-Wq2eR5tY8**********7dP6hh. You can find your API key at https://platform.openai.com/account/api-keys."}}`,
			`{"error":{"message":"Incorrect API key provided: [redacted] You can find your API key at https://platform.openai.com/account/api-keys."}}`},
		{"prefix", `key sk-Wq2eR5 is not valid`, `key [redacted] is not valid`},
		{"suffix", `key ending in u7dP6hh was revoked`, `key ending in [redacted] was revoked`},
		{"middle fragment", `token=oP3aS6dF9 rejected`, `token=[redacted] rejected`},
		{"six bytes are enough", `got "H2jK4l"`, `got "[redacted]"`},
		{"five bytes are not", `got "H2jK4"`, `got "H2jK4"`},
		{"masked suffix only", `key ********************P6hh invalid`, `key [redacted] invalid`},
		{"masked prefix only", `key sk-W…7 invalid`, `key [redacted] invalid`},
		{"three bytes next to a mask are not enough", `key sk-…6hh invalid`, `key sk-…6hh invalid`},
		{"masked with bullets", `key sk-Wq••••••••6hh`, `key [redacted]`},
		{"masked with dots", `key sk-Wq...P6hh`, `key [redacted]`},
		{"mask next to text that is not the key", `key abcd****wxyz`, `key abcd****wxyz`},
		{"in a URL query", `see https://x.test/v1?key=` + key[3:20] + `&alt=json`, `see https://x.test/v1?key=[redacted]&alt=json`},
		{"bearer", `Authorization: Bearer ` + key[:30], `Authorization: Bearer [redacted]`},
		{"twice", key[:10] + " and " + key[len(key)-10:], "[redacted] and [redacted]"},
		{"nothing to redact", `{"error":{"message":"quota exceeded"}}`, `{"error":{"message":"quota exceeded"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(s.Redact([]byte(tc.in))); got != tc.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRedactUnchangedIsSameSlice(t *testing.T) {
	in := []byte(`{"error":{"message":"nothing here"}}`)
	if out := New(key).Redact(in); &out[0] != &in[0] {
		t.Error("Redact copied text it did not change")
	}
	var nilSecret *Secret
	if out := nilSecret.Redact(in); !bytes.Equal(out, in) || New("") != nil {
		t.Error("a nil secret redacted something")
	}
}

func TestRedactShortSecret(t *testing.T) {
	s := New("abc12")
	if got := string(s.Redact([]byte("key abc12 and abc1"))); got != "key [redacted] and abc1" {
		t.Errorf("got %q", got)
	}
}

// A secret with delimiter bytes in it is still redacted whole.
func TestRedactSecretWithDelimiters(t *testing.T) {
	s := New("ab:cd=ef")
	if got := string(s.Redact([]byte(`x ab:cd=ef y`))); got != "x [redacted] y" {
		t.Errorf("got %q", got)
	}
}

// A megabyte of text that is nearly the key everywhere costs one pass.
func TestRedactLargeBody(t *testing.T) {
	s := New(key)
	near := key[:MinFragment-1] + " "
	body := []byte(strings.Repeat(near, (1<<20)/len(near)))
	if out := s.Redact(body); &out[0] != &body[0] {
		t.Error("near misses were redacted")
	}
	body = append(body, key[10:20]...)
	if out := s.Redact(body); !bytes.HasSuffix(out, []byte(Marker)) || len(out) != len(body)-10+len(Marker) {
		t.Errorf("the fragment at the end of a large body was missed")
	}
}

func BenchmarkRedact1MiB(b *testing.B) {
	s := New(key)
	body := bytes.Repeat([]byte(`{"error":{"message":"The model does not exist or you do not have access to it."}} `), (1<<20)/84)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s.Redact(body)
	}
}

func FuzzRedact(f *testing.F) {
	f.Add(key, "Incorrect API key provided: sk-Wq2eR5tY8**********7dP6hh.")
	f.Add("gsk_0123456789abcdef", "gsk_0123 gsk_0123456789 ***cdef")
	f.Fuzz(func(t *testing.T, secret, text string) {
		s := New(secret)
		out := s.Redact([]byte(text))
		if secret == "" {
			return
		}
		if bytes.Contains(out, []byte(secret)) && !strings.Contains(Marker, secret) {
			t.Fatalf("the secret survived: %q", out)
		}
		for _, c := range []byte(secret) {
			if !isWord(c) {
				return // fragments are only promised for secrets made of word bytes
			}
		}
		if strings.Contains(Marker, secret[:min(len(secret), MinFragment)]) {
			return
		}
		for i := 0; i+MinFragment <= len(secret); i++ {
			frag := secret[i : i+MinFragment]
			if bytes.Contains(out, []byte(frag)) && !strings.Contains(Marker, frag) {
				t.Fatalf("fragment %q survived in %q", frag, out)
			}
		}
	})
}
