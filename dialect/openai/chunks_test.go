package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestChunkWriter: the head is the upstream's id and model unless overridden, the first chunk
// alone carries the role, an empty stream still ends valid, and every event is JSON.
func TestChunkWriter(t *testing.T) {
	w := ChunkWriter{ID: []byte(`"up-1"`), Model: []byte(`"up-model"`), FallbackID: `"x"`, PublicModel: "pub", Created: 7}
	out := w.Content(nil, `"content":`, []byte(`"Hel"`))
	out = w.Content(out, `"reasoning_content":`, []byte(`"hm"`))
	out = w.Finish(out, "stop", &Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3,
		PromptTokensDetails: &PromptTokensDetails{CachedTokens: 1}, CompletionTokensDetails: &CompletionTokensDetails{ReasoningTokens: 1}})
	evs := strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n")
	if len(evs) != 5 || evs[4] != "data: [DONE]" || strings.Count(string(out), `"role"`) != 1 {
		t.Fatalf("%s", out)
	}
	for _, ev := range evs[:4] {
		var c Chunk
		if err := json.Unmarshal([]byte(strings.TrimPrefix(ev, "data: ")), &c); err != nil || c.ID != "up-1" || c.Model != "pub" || c.Created != 7 {
			t.Fatalf("%v %q", err, ev)
		}
	}
	if !strings.Contains(evs[3], `"cached_tokens":1`) || !strings.Contains(evs[3], `"reasoning_tokens":1`) {
		t.Errorf("usage chunk %s", evs[3])
	}
	empty := ChunkWriter{FallbackID: `"x"`}
	out = empty.Finish(nil, "length", nil)
	if want := "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n"; string(out) != want {
		t.Errorf("empty stream:\n%q\nwant\n%q", out, want)
	}
}

// TestReplyChunks: a whole reply becomes the stream it would have come as: every choice by its
// index, each event one data line of JSON (a pretty-printed reply too), the role first, then
// reasoning, text (a string or text parts), refusal and each tool call under its own index,
// the finish reason, the usage when asked for, and [DONE]. Strings are copied as they came.
func TestReplyChunks(t *testing.T) {
	const reply = `{
	"id": "c1", "object": "chat.completion", "created": 9, "model": "up",
	"choices": [
		{"index": 0, "message": {"role": "assistant", "reasoning": "hm", "content": "Hi \"you\"\u00e9",
			"tool_calls": [
				{"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
				{"function": {"name": "g", "arguments": {"y": 2}}}
			]}, "finish_reason": "tool_calls"},
		{"index": 1, "message": {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}],
			"refusal": "no"}, "finish_reason": null}
	],
	"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
}`
	out, err := ReplyChunks(nil, []byte(reply), true)
	if err != nil {
		t.Fatal(err)
	}
	evs := strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n")
	if evs[len(evs)-1] != "data: [DONE]" {
		t.Fatalf("no [DONE] at the end:\n%s", out)
	}
	type acc struct {
		reasoning, content, refusal, finish string
		calls                               []ToolCall
	}
	got := map[int]*acc{}
	var usage *Usage
	for _, ev := range evs[:len(evs)-1] {
		data, ok := strings.CutPrefix(ev, "data: ")
		var c Chunk
		if !ok || strings.Contains(data, "\n") || json.Unmarshal([]byte(data), &c) != nil {
			t.Fatalf("not one data line of a chunk: %q", ev)
		}
		if c.ID != "c1" || c.Model != "up" || c.Created != 9 || c.Object != "chat.completion.chunk" {
			t.Errorf("head %+v", c)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			a := got[ch.Index]
			if a == nil {
				a = &acc{}
				got[ch.Index] = a
				if ch.Delta.Role != "assistant" {
					t.Errorf("choice %d: the first chunk has no role: %s", ch.Index, data)
				}
			}
			if ch.Delta.ReasoningContent != nil {
				a.reasoning += *ch.Delta.ReasoningContent
			}
			if r := jsonField(data, "reasoning"); r != "" {
				a.reasoning += r
			}
			if ch.Delta.Content != nil {
				a.content += *ch.Delta.Content
			}
			if r := jsonField(data, "refusal"); r != "" {
				a.refusal += r
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Index == nil || *tc.Index != len(a.calls) {
					t.Errorf("tool call index %v, want %d", tc.Index, len(a.calls))
				}
				a.calls = append(a.calls, tc)
			}
			if ch.FinishReason != nil {
				if a.finish != "" {
					t.Errorf("choice %d finished twice", ch.Index)
				}
				a.finish = *ch.FinishReason
			}
		}
	}
	c0, c1 := got[0], got[1]
	if len(got) != 2 || c0.reasoning != "hm" || c0.content != `Hi "you"é` || c0.finish != "tool_calls" || len(c0.calls) != 2 {
		t.Fatalf("choice 0: %+v", c0)
	}
	if a, b := c0.calls[0], c0.calls[1]; a.ID != "call_a" || a.Type != "function" || a.Function.Name != "f" || a.Function.Arguments != `{"x":1}` ||
		b.ID != "" || b.Type != "function" || b.Function.Name != "g" || b.Function.Arguments != `{"y":2}` {
		t.Errorf("tool calls %+v", c0.calls)
	}
	if c1.content != "ab" || c1.refusal != "no" || c1.finish != "stop" {
		t.Errorf("choice 1: %+v", c1)
	}
	if !strings.Contains(string(out), `"content":"Hi \"you\"\u00e9"`) {
		t.Errorf("the content was not copied as it came:\n%s", out)
	}
	if usage == nil || usage.TotalTokens != 7 {
		t.Errorf("usage %+v", usage)
	}

	out, _ = ReplyChunks(nil, []byte(reply), false)
	if strings.Contains(string(out), `"usage"`) {
		t.Errorf("a usage chunk nobody asked for:\n%s", out)
	}
	// An empty answer still says so, as a streamed one does.
	out, err = ReplyChunks(nil, []byte(`{"id":"e","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}]}`), true)
	want := `data: {"id":"e","object":"chat.completion.chunk","created":0,"model":"","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"e","object":"chat.completion.chunk","created":0,"model":"","choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"e","object":"chat.completion.chunk","created":0,"model":"","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
		"data: [DONE]\n\n"
	if err != nil || string(out) != want {
		t.Errorf("empty answer (%v):\n%s\nwant\n%s", err, out, want)
	}
	for _, r := range []string{`{"id":"x","choices":[]}`, `{"id":"x"}`, `{"error":{"message":"no"}}`} {
		if out, err := ReplyChunks(nil, []byte(r), true); !errors.Is(err, ErrNoChoices) {
			t.Errorf("%s: %q, %v; want ErrNoChoices", r, out, err)
		}
	}
}

// jsonField is the string value of key in the first delta of a chunk, "" when absent.
func jsonField(chunk, key string) string {
	var c struct {
		Choices []struct{ Delta map[string]any } `json:"choices"`
	}
	if json.Unmarshal([]byte(chunk), &c) != nil || len(c.Choices) == 0 {
		return ""
	}
	s, _ := c.Choices[0].Delta[key].(string)
	return s
}

// TestCompletionChunks: a whole text completion is its stream's one chunk, less its usage,
// which follows in a chunk of its own when asked for; a reply over several lines becomes one
// data line, and one without a choice is no stream.
func TestCompletionChunks(t *testing.T) {
	const reply = "{\"id\":\"cmpl-1\",\n \"object\":\"text_completion\",\"created\":7,\"model\":\"m\",\"system_fingerprint\":\"fp\"," +
		"\"choices\":[{\"text\":\"a\\nb\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}]," +
		"\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3},\"x\\\"y\":1}"
	const chunk = `data: {"id":"cmpl-1","object":"text_completion","created":7,"model":"m","system_fingerprint":"fp",` +
		`"choices":[{"text":"a\nb","index":0,"logprobs":null,"finish_reason":"stop"}],"x\"y":1}` + "\n\n"
	const usage = `data: {"id":"cmpl-1","object":"text_completion","created":7,"model":"m","system_fingerprint":"fp",` +
		`"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}` + "\n\n"
	for _, tc := range []struct {
		includeUsage bool
		want         string
	}{{false, chunk + "data: [DONE]\n\n"}, {true, chunk + usage + "data: [DONE]\n\n"}} {
		got, err := CompletionChunks(nil, []byte(reply), tc.includeUsage)
		if err != nil || string(got) != tc.want {
			t.Errorf("includeUsage %v: %v\n got %s\nwant %s", tc.includeUsage, err, got, tc.want)
		}
	}
	for _, r := range []string{`{"id":"c","choices":[]}`, `{"id":"c"}`} {
		if _, err := CompletionChunks(nil, []byte(r), true); !errors.Is(err, ErrNoChoices) {
			t.Errorf("%s: %v, want ErrNoChoices", r, err)
		}
	}
}
