package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppend(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{"q\"b\\", `"q\"b\\"`},
		{"a\nb\rc\td\x01", `"a\nb\rc\td\u0001"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
		{"émoji 🙂", `"émoji 🙂"`},
	} {
		if got := string(Append(nil, tc.in)); got != tc.want {
			t.Errorf("Append(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzAppend: the output is always valid JSON on one line and decodes back to the input, with
// invalid UTF-8 replaced.
func FuzzAppend(f *testing.F) {
	f.Add("x\"\\\n\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		out := Append(nil, s)
		if strings.ContainsAny(string(out), "\n\r") {
			t.Fatalf("raw line end in %q", out)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("invalid JSON %q: %v", out, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back != want && utf8.ValidString(s) {
			t.Fatalf("round trip: %q -> %q", s, back)
		}
	})
}
