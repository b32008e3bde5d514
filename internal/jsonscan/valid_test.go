package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

// validCases are documents on both sides of every rule Valid checks.
var validCases = []string{
	``, ` `, `{}`, `[]`, ` {} `, "\t[\n]\r", `{`, `}`, `[`, `]`, `{]`, `[}`, `{}}`, `[]]`, `{} {}`, `1 2`,
	`0`, `-0`, `1`, `-`, `01`, `-01`, `1.`, `1.5`, `.5`, `1e`, `1e5`, `1E+5`, `1e-5`, `1.5e3`, `1e+`, `2x`,
	`123456789012345678901234567890`, `-1.0e-0`, `+1`, `0x10`, `1_000`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`, `True`, `nulll`,
	`""`, `"a"`, `"`, `"abc`, `"\"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`,
	`"\u12"`, `"\x"`, "\"a\tb\"", "\"a\x01b\"", "\"a\x7fb\"", "\"\xff\xfe\"", `"é"`,
	`{"a":1}`, `{"a" : 1 , "b" : [true, null]}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,"a":1}`, `{1:2}`,
	`{"a":1 "b":2}`, `{"a" 1}`, `[1,]`, `[,1]`, `[1 2]`, `[1,,2]`, `[[[]]]`, `[[[]]`, `[{"a":[{}]}]`,
	`{"a":{"b":{"c":[1,2,{"d":"}"}]}}}`, `{"a":"]"}`, `["}"]`, `{"a":[}`, `{"a":{]}`,
	`{"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":3}}`,
	strings.Repeat("[", 64) + strings.Repeat("]", 64),
	strings.Repeat("[", 65) + strings.Repeat("]", 65),
	strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100),
	strings.Repeat("[", 100) + strings.Repeat("]", 99),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

func TestValid(t *testing.T) {
	for _, doc := range validCases {
		if got, want := Valid([]byte(doc)), json.Valid([]byte(doc)); got != want {
			t.Errorf("Valid(%.80q) = %v, encoding/json says %v", doc, got, want)
		}
	}
}

// FuzzValid: Valid and encoding/json.Valid agree on every input.
func FuzzValid(f *testing.F) {
	for _, doc := range validCases {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if got, want := Valid(doc), json.Valid(doc); got != want {
			t.Errorf("Valid(%q) = %v, encoding/json says %v", doc, got, want)
		}
	})
}

// benchReply is a whole chat completion as the load test's upstream sends it.
var benchReply = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-1",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the benchmark upstream."},` +
	`"finish_reason":"stop"}],"usage":{"prompt_tokens":200,"completion_tokens":8,"total_tokens":208}}`)

func BenchmarkValid(b *testing.B) {
	b.Run("jsonscan", func(b *testing.B) {
		b.SetBytes(int64(len(benchReply)))
		for b.Loop() {
			if !Valid(benchReply) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(benchReply)))
		for b.Loop() {
			if !json.Valid(benchReply) {
				b.Fatal("invalid")
			}
		}
	})
}
