package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestObjectKey(t *testing.T) {
	for _, tc := range []struct{ name, doc, key, want string }{
		{"top level", `{"a":1,"usage":{"x":2}}`, "usage", `{"x":2}`},
		{"nested key is not top level", `{"a":{"usage":1},"b":2}`, "usage", ""},
		{"key inside a string", `{"a":"\"usage\":5","usage":7}`, "usage", "7"},
		{"escaped quote before", `{"a":"x\\\"","usage":[1,{"y":"]"}]}`, "usage", `[1,{"y":"]"}]`},
		{"null is absent", `{"usage":null}`, "usage", ""},
		{"first non-null wins", `{"usage":null,"usage":3}`, "usage", "3"},
		{"spaces", " { \"usage\" :\n 12 } ", "usage", "12"},
		{"last value", `{"a":1,"usage":true}`, "usage", "true"},
		{"truncated", `{"usage":{"x":1`, "usage", ""},
		{"not an object", `["usage",1]`, "usage", ""},
		{"empty", ``, "usage", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(ObjectKey([]byte(tc.doc), tc.key)); got != tc.want {
				t.Errorf("ObjectKey(%s, %q) = %q, want %q", tc.doc, tc.key, got, tc.want)
			}
		})
	}
}

// FuzzObjectKey: on a valid JSON object whose keys are unique and need no unescaping, the
// value found is exactly what encoding/json finds for that key.
func FuzzObjectKey(f *testing.F) {
	f.Add([]byte(`{"usage":{"prompt_tokens":1},"b":[1,"}"]}`), "usage")
	f.Add([]byte(`{"a":"\\\"","k":null}`), "k")
	f.Fuzz(func(t *testing.T, doc []byte, key string) {
		got := ObjectKey(doc, key) // never panics, whatever doc is
		var m map[string]json.RawMessage
		if json.Unmarshal(doc, &m) != nil || !plainUniqueKeys(doc, len(m)) {
			return
		}
		want, ok := m[key]
		if !ok || string(want) == "null" {
			if got != nil {
				t.Fatalf("found %q for absent key %q in %s", got, key, doc)
			}
			return
		}
		if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
			t.Fatalf("ObjectKey(%s, %q) = %q, encoding/json %q", doc, key, got, want)
		}
	})
}

// plainUniqueKeys reports whether doc's top-level object has n keys and no backslash anywhere
// (so raw and decoded keys are the same), which means no key repeats: decoders keep the last
// of a repeated key, the scan the first.
func plainUniqueKeys(doc []byte, n int) bool {
	if bytes.IndexByte(doc, '\\') >= 0 {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	keys := 0
	for dec.More() {
		var v json.RawMessage
		if _, err := dec.Token(); err != nil || dec.Decode(&v) != nil {
			return false
		}
		keys++
	}
	return keys == n
}
