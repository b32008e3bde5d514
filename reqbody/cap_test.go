package reqbody

import (
	"encoding/json"
	"testing"
)

func TestScanMaxTokensAndCap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int64
		want string // after CapMaxTokens(in, 1000)
	}{
		{`{"model":"m","max_tokens":32000,"messages":[]}`, 32000, `{"model":"m","max_tokens":1000,"messages":[]}`},
		{`{"model":"m","max_completion_tokens": 4096 ,"max_tokens":64000}`, 64000, `{"model":"m","max_completion_tokens": 1000 ,"max_tokens":1000}`},
		{`{"model":"m","max_output_tokens":999}`, 999, `{"model":"m","max_output_tokens":999}`},
		{`{"model":"m","max_tokens":null,"messages":[{"max_tokens":99999}]}`, 0, `{"model":"m","max_tokens":null,"messages":[{"max_tokens":99999}]}`},
		{`{"model":"m","max_tokens":1e5}`, 0, `{"model":"m","max_tokens":1e5}`},
	} {
		f, err := Scan([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if f.MaxTokens != tc.max {
			t.Errorf("%s: MaxTokens %d, want %d", tc.in, f.MaxTokens, tc.max)
		}
		got := CapMaxTokens([]byte(tc.in), 1000)
		if string(got) != tc.want || !json.Valid(got) {
			t.Errorf("CapMaxTokens(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
