package wire

import (
	"encoding/json"
	"testing"
)

// checkUnquote compares Unquote with json.Unmarshal on a string token from a valid document,
// which is what Unquote is given.
func checkUnquote(t *testing.T, raw []byte) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' || !json.Valid(raw) {
		return
	}
	var want string
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	got, ok := Unquote(raw)
	if !ok || got != want {
		t.Fatalf("%q: Unquote = %q, %v; json = %q", raw, got, ok, want)
	}
}

func TestUnquote(t *testing.T) {
	for _, s := range []string{
		`""`, `"plain"`, `"a\nb\t\"q\"\\\/"`, `"\u00e9\u4e2d"`, `"\ud83d\ude00"`, `"\ud83dx"`, `"\ude00\ud83d"`,
		`"\ud83d\u0041"`, "\"bad\xff\xfeutf8\"", "\"é\xc3\"", `"\b\f\r"`, `"\u0000"`,
	} {
		checkUnquote(t, []byte(s))
	}
	for _, bad := range []string{`x`, `"`, `"\"`, `"\x"`, `"\u12"`} {
		if _, ok := Unquote([]byte(bad)); ok {
			t.Errorf("Unquote(%q) ok", bad)
		}
	}
}

// FuzzUnquote: Unquote agrees with json.Unmarshal on every JSON string.
func FuzzUnquote(f *testing.F) {
	f.Add([]byte(`"a\u00e9\ud83d\ude00\n"`))
	f.Add([]byte("\"\xff\\ud800\""))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkUnquote(t, raw)
		b, _ := json.Marshal(string(raw)) // a valid JSON string of the same bytes
		checkUnquote(t, b)
	})
}

// Random strings of escapes, surrogates and broken UTF-8, compared with json.Unmarshal: a
// deterministic complement to the fuzz target.
func TestUnquoteRandom(t *testing.T) {
	pieces := []string{`\n`, `\"`, `\\`, `\/`, `\u00e9`, `\ud83d`, `\ude00`, `\ud83d\ude00`, `\uD800\uDFFF`, `\u0041`, "\xff", "\xc3", "é", "中", "a", " ", `\t`, `\b`, "\xed\xa0\x80"}
	seed := uint32(1)
	for n := 0; n < 50000; n++ {
		b := []byte{'"'}
		seed = seed*1664525 + 1013904223
		for k := int(seed>>28) + 1; k > 0; k-- {
			seed = seed*1664525 + 1013904223
			b = append(b, pieces[int(seed>>16)%len(pieces)]...)
		}
		checkUnquote(t, append(b, '"'))
	}
}
