package reqbody

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzScan checks Scan never panics and is never looser than encoding/json:
// whatever it accepts is valid JSON, its Model and Stream are what
// encoding/json reads, and the rewritten body is valid and equivalent.
func FuzzScan(f *testing.F) {
	for _, tc := range scanCases {
		if len(tc.body) < 4096 {
			f.Add([]byte(tc.body))
		}
	}
	f.Add(chatBody(2048))
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := Scan(b)
		valid := json.Valid(b)
		if err != nil {
			// Stricter than encoding/json only on nesting depth.
			if valid && errors.Is(err, ErrMalformed) && !strings.Contains(err.Error(), "nesting") {
				t.Fatalf("Scan rejects valid JSON: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("Scan accepted invalid JSON %q", b)
		}
		// A map, not a struct: encoding/json matches struct fields without
		// regard to case ("streAm"), while Scan reads the exact keys.
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("encoding/json cannot decode an accepted body: %v", err)
		}
		var model string
		if err := json.Unmarshal(doc["model"], &model); err != nil || model != fields.Model {
			t.Fatalf("Model %q, encoding/json reads %q (%v)", fields.Model, model, err)
		}
		var stream bool
		if raw, ok := doc["stream"]; ok {
			if err := json.Unmarshal(raw, &stream); err != nil {
				t.Fatalf("stream %s: %v", raw, err)
			}
		}
		if stream != fields.Stream {
			t.Fatalf("Stream %v, encoding/json reads %v", fields.Stream, stream)
		}
		if _, ok := doc["stream_options"]; ok != fields.HasStreamOptions {
			t.Fatalf("HasStreamOptions %v, encoding/json sees %v", fields.HasStreamOptions, ok)
		}
		checkRewrite(t, b, fields, "up\"stream\\id\u00e9", true)
	})
}
