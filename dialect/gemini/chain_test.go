package gemini

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/dialect"
	"github.com/llmrouter/caddy-llm-router/dialect/anthropic"
)

// A Gemini upstream for an Anthropic client, through the pivot: the signed call's id reaches
// the client unchanged (Anthropic rewrites bytes outside [A-Za-z0-9_-]; the id has none), and
// a turn that goes back through the Anthropic dialect's request translation keeps it.
func TestChainGeminiToAnthropic(t *testing.T) {
	c := &dialect.Chain{First: NewStreamToOpenAI(StreamToOpenAIOptions{Created: 1, IncludeUsage: true}), Second: anthropic.NewStreamFromOpenAI(anthropic.StreamFromOpenAIOptions{Model: "claude"})}
	out, err := run(c, thinkToolStream())
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "event: message_stop") || !strings.Contains(s, `"stop_reason":"tool_use"`) {
		t.Fatalf("%s", s)
	}
	var id string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, `"tool_use"`) && id == "" {
			var v struct {
				ContentBlock struct{ ID string } `json:"content_block"`
			}
			_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &v)
			id = v.ContentBlock.ID
		}
	}
	if _, sig := SplitToolID(id); sig != sigA {
		t.Fatalf("id %q lost the signature", id)
	}
	// The Anthropic client's next turn, to a Gemini upstream via the pivot.
	next := `{"model":"claude","max_tokens":100,"messages":[{"role":"user","content":"weather?"},
		{"role":"assistant","content":[{"type":"tool_use","id":"` + id + `","name":"get_weather","input":{"city":"Paris"}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + id + `","content":"21C"}]}]}`
	pivot, err := anthropic.RequestToOpenAI([]byte(next), anthropic.ToOpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := RequestFromOpenAI(pivot, FromOpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(g), `"thoughtSignature":"`+sigA+`"`) || !strings.Contains(string(g), `"functionResponse":{"name":"get_weather","response":{"result":"21C"}}`) {
		t.Fatalf("%s", g)
	}
}
