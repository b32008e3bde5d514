package reqbody

import (
	"encoding/json"
	"testing"
)

func TestFitLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int64
		want string // after FitTo(in, Fit{Limit: 1000})
	}{
		{`{"model":"m","max_tokens":32000,"messages":[]}`, 32000, `{"model":"m","max_tokens":1000,"messages":[]}`},
		{`{"model":"m","max_completion_tokens": 4096 ,"max_tokens":64000}`, 64000, `{"model":"m","max_completion_tokens":1000,"max_tokens":1000}`},
		{`{"model":"m","max_output_tokens":999}`, 999, `{"model":"m","max_output_tokens":999}`},
		{`{"model":"m","max_tokens":null,"messages":[{"max_tokens":99999}]}`, 0, `{"model":"m","max_tokens":null,"messages":[{"max_tokens":99999}]}`},
		{`{"model":"m","max_tokens":1e5}`, 0, `{"model":"m","max_tokens":1e5}`},
		{` { "model" : "m" , "max_tokens" : 5 } `, 5, `{"model":"m","max_tokens":5}`},
	} {
		f, err := Scan([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if f.MaxTokens != tc.max {
			t.Errorf("%s: MaxTokens %d, want %d", tc.in, f.MaxTokens, tc.max)
		}
		got := FitTo([]byte(tc.in), Fit{Limit: 1000})
		if string(got) != tc.want || !json.Valid(got) {
			t.Errorf("FitTo(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestFitCompletionTokensAndReasoning(t *testing.T) {
	for in, want := range map[string]string{
		`{"model":"o3","max_tokens":32000,"messages":[]}`:                           `{"model":"o3","max_completion_tokens":1000,"messages":[]}`,
		`{"model":"o3","max_tokens":500,"max_completion_tokens":20000}`:             `{"model":"o3","max_completion_tokens":1000}`,
		`{"max_completion_tokens":800,"model":"o3","max_tokens":900,"stream":true}`: `{"max_completion_tokens":800,"model":"o3","stream":true}`,
	} {
		f, err := Scan([]byte(in))
		if err != nil || !f.LegacyMaxTokens {
			t.Fatalf("%s: LegacyMaxTokens %v, %v", in, f.LegacyMaxTokens, err)
		}
		if got := FitTo([]byte(in), Fit{Limit: 1000, CompletionTokens: true}); string(got) != want {
			t.Errorf("FitTo(%s) = %s, want %s", in, got, want)
		}
	}
	if f, _ := Scan([]byte(`{"model":"o3","max_completion_tokens":5,"max_tokens":null}`)); f.LegacyMaxTokens {
		t.Error("a null max_tokens counts as one")
	}
	in := `{"model":"gpt-4o","reasoning_effort":"high","messages":[]}`
	f, _ := Scan([]byte(in))
	fit := Fit{NoReasoning: true}
	if !f.Reasoning || !fit.Needed(f) || (Fit{Limit: 10}).Needed(f) {
		t.Fatalf("%s: Reasoning %v", in, f.Reasoning)
	}
	if got := FitTo([]byte(in), fit); string(got) != `{"model":"gpt-4o","messages":[]}` {
		t.Errorf("FitTo(%s) = %s", in, got)
	}
}

func TestFitNoSampling(t *testing.T) {
	in := `{"model":"o3","temperature":0.2,"top_p":null,"logit_bias":{"1":2},"messages":[],"stream":true}`
	f, err := Scan([]byte(in))
	fit := Fit{NoSampling: true}
	if err != nil || !f.Sampling || !fit.Needed(f) {
		t.Fatalf("%s: Sampling %v, %v", in, f.Sampling, err)
	}
	if got := FitTo([]byte(in), fit); string(got) != `{"model":"o3","messages":[],"stream":true}` {
		t.Errorf("FitTo(%s) = %s", in, got)
	}
	if f, _ := Scan([]byte(`{"model":"o3","top_p":null}`)); f.Sampling {
		t.Error("a null top_p counts as sampling")
	}
}

func TestFitThinkingBudgetUnderTheLimit(t *testing.T) {
	for limit, want := range map[int64]string{
		16000: `{"model":"c","max_tokens":16000,"thinking":{"type":"enabled","budget_tokens":15999},"messages":[]}`,
		1000:  `{"model":"c","max_tokens":1000,"messages":[]}`,
		40000: `{"model":"c","max_tokens":32000,"thinking":{"type":"enabled","budget_tokens":31999},"messages":[]}`,
	} {
		in := `{"model":"c","max_tokens":32000,"thinking":{"type":"enabled","budget_tokens":31999},"messages":[]}`
		if got := FitTo([]byte(in), Fit{Limit: limit}); string(got) != want {
			t.Errorf("limit %d: %s, want %s", limit, got, want)
		}
	}
}

// Anthropic refuses a clear_thinking edit of context_management without thinking (Claude Code
// sends one on every request): where the fit drops thinking it drops those edits, and keeps
// any other edit and the rest of the request; where thinking stays, so do they.
func TestFitThinkingEditsGoWithThinking(t *testing.T) {
	const (
		clear = `{"type":"clear_thinking_20251015","keep":{"type":"thinking_turns","value":1}}`
		tools = `{"type":"clear_tool_uses_20250919"}`
	)
	body := func(thinking, edits string) string {
		return `{"model":"c","max_tokens":32000,` + thinking + `"context_management":{"edits":[` + edits + `]},"messages":[]}`
	}
	on := `"thinking":{"type":"enabled","budget_tokens":31999},`
	for _, c := range []struct {
		name, in string
		fit      Fit
		want     string
	}{
		{"no reasoning, one edit", body(on, clear), Fit{NoReasoning: true}, `{"model":"c","max_tokens":32000,"messages":[]}`},
		{"no reasoning, another edit kept", body(on, clear+","+tools), Fit{NoReasoning: true},
			`{"model":"c","max_tokens":32000,"context_management":{"edits":[` + tools + `]},"messages":[]}`},
		{"a limit under the least budget", body(on, clear), Fit{Limit: 1000}, `{"model":"c","max_tokens":1000,"messages":[]}`},
		{"thinking kept under a limit", body(on, clear), Fit{Limit: 16000},
			`{"model":"c","max_tokens":16000,"thinking":{"type":"enabled","budget_tokens":15999},"context_management":{"edits":[` + clear + `]},"messages":[]}`},
	} {
		if got := FitTo([]byte(c.in), c.fit); string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}
