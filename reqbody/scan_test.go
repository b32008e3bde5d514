package reqbody

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// scanCase is one Scan input and what must come out of it. A nil err means
// Scan must accept; raw is then the exact model value bytes, quotes included.
type scanCase struct {
	name    string
	body    string
	err     error
	model   string
	raw     string
	stream  bool
	options bool
}

var scanCases = []scanCase{
	{name: "minimal", body: `{"model":"m"}`, model: "m", raw: `"m"`},
	{name: "key order kept", body: `{"z":1,"model":"gpt","a":[1,2],"messages":[]}`, model: "gpt", raw: `"gpt"`},
	{name: "whitespace everywhere", body: " \r\n\t{ \"model\" \n:\t\"m\" ,\r\n \"stream\"\t:\ttrue , \"x\" : [ 1 , { } , [ ] ] } \n\t",
		model: "m", raw: `"m"`, stream: true},
	{name: "model inside messages", body: `{"messages":[{"role":"user","model":"evil"}],"model":"good"}`, model: "good", raw: `"good"`},
	{name: "model as nested key", body: `{"meta":{"model":"evil","m":{"model":1}},"model":"good"}`, model: "good", raw: `"good"`},
	{name: "model inside string value", body: `{"messages":[{"content":"\"model\":\"x\""}],"model":"good"}`, model: "good", raw: `"good"`},
	{name: "key looking like model in a string", body: `{"a":"\",\"model\":\"x","model":"good"}`, model: "good", raw: `"good"`},
	{name: "escaped quotes and backslashes", body: `{"a":"\\\"\\","model":"a\"b\\c"}`, model: `a"b\c`, raw: `"a\"b\\c"`},
	{name: "all simple escapes", body: `{"model":"\b\f\n\r\t\/"}`, model: "\b\f\n\r\t/", raw: `"\b\f\n\r\t\/"`},
	{name: "unicode escapes", body: `{"model":"m\u00e9\ud83d\ude00\u4E2D"}`, model: "mé😀中", raw: `"m\u00e9\ud83d\ude00\u4E2D"`},
	{name: "lone surrogate", body: `{"model":"\ud800x\udc00"}`, model: "\ufffdx\ufffd", raw: `"\ud800x\udc00"`},
	{name: "high surrogate then non-low", body: `{"model":"\ud800\u0041"}`, model: "\ufffdA", raw: `"\ud800\u0041"`},
	{name: "raw utf8", body: `{"model":"llama-3.3-70b-é"}`, model: "llama-3.3-70b-é", raw: `"llama-3.3-70b-é"`},
	{name: "invalid utf8 in model", body: "{\"model\":\"a\xffb\"}", model: "a\ufffdb", raw: "\"a\xffb\""},
	{name: "escaped model key", body: `{"mod\u0065l":"m"}`, model: "m", raw: `"m"`},
	{name: "long model", body: `{"model":"` + strings.Repeat("abcdefgh", 40) + `"}`, model: strings.Repeat("abcdefgh", 40), raw: `"` + strings.Repeat("abcdefgh", 40) + `"`},
	{name: "stream true", body: `{"model":"m","stream":true}`, model: "m", raw: `"m"`, stream: true},
	{name: "stream false", body: `{"stream":false,"model":"m"}`, model: "m", raw: `"m"`},
	{name: "stream null", body: `{"stream":null,"model":"m"}`, model: "m", raw: `"m"`},
	{name: "stream last wins", body: `{"stream":false,"model":"m","stream":true}`, model: "m", raw: `"m"`, stream: true},
	{name: "stream key is case-sensitive", body: `{"model":"m","streAm":true}`, model: "m", raw: `"m"`},
	{name: "nested stream ignored", body: `{"model":"m","x":{"stream":"yes"}}`, model: "m", raw: `"m"`},
	{name: "stream options", body: `{"model":"m","stream":true,"stream_options":{"include_usage":false}}`, model: "m", raw: `"m"`, stream: true, options: true},
	{name: "stream options null", body: `{"model":"m","stream_options":null}`, model: "m", raw: `"m"`, options: true},
	{name: "lone Model is just a key", body: `{"Model":"m"}`, err: ErrNoModel},
	{name: "huge numbers survive", body: `{"model":"m","a":1e400,"b":12345678901234567890,"c":-0.0e-0,"d":[0,-1.5E+3,2e-7]}`, model: "m", raw: `"m"`},
	{name: "literals", body: `{"model":"m","a":[true,false,null],"b":{"c":null}}`, model: "m", raw: `"m"`},
	{name: "empty containers", body: `{"model":"m","a":{},"b":[],"c":[{}],"d":{"e":[]}}`, model: "m", raw: `"m"`},
	{name: "deep but allowed", body: `{"model":"m","a":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`, model: "m", raw: `"m"`},

	{name: "empty body", body: "", err: ErrEmpty},
	{name: "whitespace only", body: " \n\t\r ", err: ErrEmpty},
	{name: "top-level array", body: `[{"model":"m"}]`, err: ErrNotObject},
	{name: "top-level string", body: `"model"`, err: ErrNotObject},
	{name: "top-level number", body: `-1`, err: ErrNotObject},
	{name: "top-level literal", body: `null`, err: ErrNotObject},
	{name: "html", body: `<html>`, err: ErrMalformed},
	{name: "empty object", body: `{}`, err: ErrNoModel},
	{name: "model missing", body: `{"messages":[]}`, err: ErrNoModel},
	{name: "model empty", body: `{"model":""}`, err: ErrNoModel},
	{name: "model null", body: `{"model":null}`, err: ErrModelNotString},
	{name: "model number", body: `{"model":42}`, err: ErrModelNotString},
	{name: "model object", body: `{"model":{"name":"m"}}`, err: ErrModelNotString},
	{name: "model array", body: `{"model":["m"]}`, err: ErrModelNotString},
	{name: "duplicate model", body: `{"model":"cheap","messages":[],"model":"dear"}`, err: ErrDuplicateModel},
	{name: "duplicate model other case", body: `{"model":"cheap","MODEL":"dear"}`, err: ErrDuplicateModel},
	{name: "duplicate model escaped", body: `{"model":"cheap","mod\u0065l":"dear"}`, err: ErrDuplicateModel},
	{name: "duplicate model non-string", body: `{"model":"cheap","model":null}`, err: ErrDuplicateModel},
	{name: "stream string", body: `{"model":"m","stream":"yes"}`, err: ErrStreamNotBool},
	{name: "stream number", body: `{"model":"m","stream":1}`, err: ErrStreamNotBool},
	{name: "stream object", body: `{"model":"m","stream":{}}`, err: ErrStreamNotBool},
	{name: "syntax beats semantics", body: `{"model":1,"stream":"x",}`, err: ErrMalformed},

	{name: "trailing garbage", body: `{"model":"m"}x`, err: ErrMalformed},
	{name: "second object", body: `{"model":"m"}{"model":"n"}`, err: ErrMalformed},
	{name: "trailing comma after object", body: `{"model":"m"} ,`, err: ErrMalformed},
	{name: "trailing nul", body: "{\"model\":\"m\"}\x00", err: ErrMalformed},
	{name: "trailing comma in object", body: `{"model":"m",}`, err: ErrMalformed},
	{name: "trailing comma in array", body: `{"model":"m","a":[1,]}`, err: ErrMalformed},
	{name: "missing comma", body: `{"model":"m" "a":1}`, err: ErrMalformed},
	{name: "missing colon", body: `{"model" "m"}`, err: ErrMalformed},
	{name: "nested missing colon", body: `{"model":"m","a":{"b" 1}}`, err: ErrMalformed},
	{name: "unquoted key", body: `{model:"m"}`, err: ErrMalformed},
	{name: "single quotes", body: `{'model':'m'}`, err: ErrMalformed},
	{name: "mismatched brackets", body: `{"model":"m","a":[}]}`, err: ErrMalformed},
	{name: "mismatched braces", body: `{"model":"m","a":{]}`, err: ErrMalformed},
	{name: "unterminated string", body: `{"model":"m`, err: ErrMalformed},
	{name: "unterminated escape", body: `{"model":"m\`, err: ErrMalformed},
	{name: "control char in string", body: "{\"model\":\"m\n\"}", err: ErrMalformed},
	{name: "control char in nested string", body: "{\"model\":\"m\",\"a\":[\"x\ty\"]}", err: ErrMalformed},
	{name: "invalid escape", body: `{"model":"\x41"}`, err: ErrMalformed},
	{name: "short unicode escape", body: `{"model":"\u12"}`, err: ErrMalformed},
	{name: "bad hex", body: `{"model":"\u12g4"}`, err: ErrMalformed},
	{name: "leading zero", body: `{"model":"m","a":01}`, err: ErrMalformed},
	{name: "bare minus", body: `{"model":"m","a":-}`, err: ErrMalformed},
	{name: "dot without digits", body: `{"model":"m","a":1.}`, err: ErrMalformed},
	{name: "leading dot", body: `{"model":"m","a":.5}`, err: ErrMalformed},
	{name: "plus sign", body: `{"model":"m","a":+1}`, err: ErrMalformed},
	{name: "empty exponent", body: `{"model":"m","a":1e}`, err: ErrMalformed},
	{name: "hex number", body: `{"model":"m","a":0x10}`, err: ErrMalformed},
	{name: "NaN", body: `{"model":"m","a":NaN}`, err: ErrMalformed},
	{name: "short literal", body: `{"model":"m","a":tru}`, err: ErrMalformed},
	{name: "capital literal", body: `{"model":"m","stream":True}`, err: ErrMalformed},
	{name: "literal suffix", body: `{"model":"m","a":nullx}`, err: ErrMalformed},
	{name: "too deep", body: `{"model":"m","a":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`, err: ErrMalformed},
	{name: "100k open brackets", body: `{"model":"m","a":` + strings.Repeat("[", 100000), err: ErrMalformed},
	{name: "100k open objects", body: `{"model":"m","a":` + strings.Repeat(`{"a":`, 100000), err: ErrMalformed},
	{name: "100k brackets top level", body: strings.Repeat("[", 100000), err: ErrNotObject},
	{name: "comment", body: `{"model":"m" /* c */}`, err: ErrMalformed},
	{name: "BOM", body: "\ufeff{\"model\":\"m\"}", err: ErrMalformed},
}

func TestScan(t *testing.T) {
	for _, tc := range scanCases {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.body)
			f, err := Scan(b)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Scan error = %v, want %v", err, tc.err)
				}
				switch tc.err {
				case ErrMalformed:
					// Stricter than encoding/json only on nesting depth.
					if json.Valid(b) && !strings.Contains(err.Error(), "nesting") {
						t.Fatalf("ErrMalformed on a document json.Valid accepts: %v", err)
					}
				case ErrEmpty, ErrNotObject:
				default:
					// Semantic errors are only for documents encoding/json accepts.
					if !json.Valid(b) {
						t.Fatalf("semantic error %v on a document json.Valid rejects", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if f.Model != tc.model {
				t.Errorf("Model = %q, want %q", f.Model, tc.model)
			}
			if got := tc.body[f.ModelStart:f.ModelEnd]; got != tc.raw {
				t.Errorf("model bytes = %q, want %q", got, tc.raw)
			}
			if f.Stream != tc.stream || f.HasStreamOptions != tc.options {
				t.Errorf("Stream, HasStreamOptions = %v, %v, want %v, %v", f.Stream, f.HasStreamOptions, tc.stream, tc.options)
			}
			if want := strings.LastIndexByte(tc.body, '}'); f.End != want {
				t.Errorf("End = %d, want %d", f.End, want)
			}
			if !json.Valid(b) {
				t.Errorf("Scan accepted a body json.Valid rejects")
			}
		})
	}
}

// TestScanPrefixes checks that no strict prefix of an accepted body is
// accepted: a truncated document must never pass as a shorter one.
func TestScanPrefixes(t *testing.T) {
	for _, tc := range scanCases {
		if tc.err != nil || len(tc.body) > 5000 {
			continue
		}
		body := []byte(strings.TrimRight(tc.body, " \t\r\n"))
		for n := range len(body) {
			if _, err := Scan(body[:n]); err == nil {
				t.Errorf("%s: prefix %q accepted", tc.name, body[:n])
			}
		}
	}
}

// TestScanErrorMessages checks errors are short, lower-case, carry an offset
// and never echo client content.
func TestScanErrorMessages(t *testing.T) {
	secret := strings.Repeat("SECRET", 50)
	bodies := []string{
		`{"model":"` + secret,
		`{"model":"m","` + secret + `":"x" ` + secret + `}`,
		`{"model":"m","a":` + secret + `}`,
		`{"model":"m"}` + secret,
		"{\"model\":\"" + secret + "\x01\"}",
	}
	for _, body := range bodies {
		_, err := Scan([]byte(body))
		if err == nil {
			t.Fatalf("Scan(%.30q...) accepted", body)
		}
		msg := err.Error()
		if strings.Contains(msg, "SECRET") || strings.Contains(msg, "ECR") || len(msg) > 120 {
			t.Errorf("error echoes the body: %q", msg)
		}
		if !strings.Contains(msg, "at byte ") {
			t.Errorf("error has no offset: %q", msg)
		}
		if msg[0] != 'r' { // "request body is not valid JSON..."
			t.Errorf("error does not start with the sentinel's text: %q", msg)
		}
	}
}

func TestScanMatchesEncodingJSON(t *testing.T) {
	for _, tc := range scanCases {
		if tc.err != nil {
			continue
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tc.body), &doc); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var model string
		if err := json.Unmarshal(doc["model"], &model); err != nil {
			t.Fatalf("%s: model: %v", tc.name, err)
		}
		if model != tc.model {
			t.Errorf("%s: encoding/json model %q, table says %q", tc.name, model, tc.model)
		}
	}
}

func TestScanDoesNotAllocate(t *testing.T) {
	b := chatBody(200 << 10)
	// Only the Model string: one allocation.
	if n := testing.AllocsPerRun(20, func() {
		if _, err := Scan(b); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("Scan allocates %v times, want at most 1", n)
	}
}

func TestClassifyKey(t *testing.T) {
	cases := []struct {
		raw  string
		esc  bool
		want keyKind
	}{
		{"model", false, keyModel},
		{"Model", false, keyModelFold},
		{"mOdEl", false, keyModelFold},
		{"mode1", false, keyOther},
		{"modem", false, keyOther},
		{`m\u006Fdel`, true, keyModel},
		{`\u004dodel`, true, keyModelFold},
		{"stream", false, keyStream},
		{"Stream", false, keyOther},
		{`stre\u0061m`, true, keyStream},
		{"stream_options", false, keyStreamOptions},
		{`\u0073\u0074\u0072\u0065\u0061\u006d\u005f\u006f\u0070\u0074\u0069\u006f\u006e\u0073`, true, keyStreamOptions},
		{strings.Repeat(`\u0061`, 20), true, keyOther},
		{"", false, keyOther},
	}
	for _, tc := range cases {
		if got := classifyKey([]byte(tc.raw), tc.esc); got != tc.want {
			t.Errorf("classifyKey(%q) = %d, want %d", tc.raw, got, tc.want)
		}
	}
}

func TestAppendQuoted(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uo\te`, "nl\n\r\t\x00\x1f\x7f", "é中😀", "bad\xff\xfe", "\u2028\u2029", "</script>&"} {
		q := jsonstr.Append(nil, s)
		if !json.Valid(q) {
			t.Fatalf("jsonstr.Append(%q) = %s: not valid JSON", s, q)
		}
		var back string
		if err := json.Unmarshal(q, &back); err != nil {
			t.Fatal(err)
		}
		// Ranging over a string yields U+FFFD for each invalid byte, which
		// is what jsonstr.Append promises.
		var want strings.Builder
		for _, r := range s {
			want.WriteRune(r)
		}
		if back != want.String() {
			t.Errorf("jsonstr.Append(%q) decodes to %q", s, back)
		}
	}
}
