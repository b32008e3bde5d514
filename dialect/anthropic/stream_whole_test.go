package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
)

// TestReplyEventsAccumulateToTheReply: the events ReplyEvents makes of a whole reply are valid
// Messages SSE, in the order the API streams them, and anthropic-sdk-go's accumulator builds
// from them the reply it was made of, every block as it came: signed and redacted thinking,
// text with citations, a tool call, a server tool's call and result, the stop details and
// the container. message_start has no output tokens yet; message_delta has the totals.
func TestReplyEventsAccumulateToTheReply(t *testing.T) {
	for _, tc := range []struct{ name, reply string }{
		{"every kind of block", `{
  "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
  "content": [
    {"type": "thinking", "thinking": "Quote \"it\"\nthen \u00e9.", "signature": "c2ln+/=="},
    {"type": "redacted_thinking", "data": "ZW5j"},
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "paris weather"}},
    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [{"type": "web_search_result", "url": "https://x.test/", "title": "X", "encrypted_content": "abc"}]},
    {"type": "text", "text": "It is mild.", "citations": [{"type": "web_search_result_location", "url": "https://x.test/", "title": "X", "encrypted_index": "i1", "cited_text": "mild"}]},
    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "days": [1, 2], "nested": {"a": null}}},
    {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}
  ],
  "stop_reason": "tool_use", "stop_sequence": null,
  "container": {"id": "container_1", "expires_at": "2030-01-01T00:00:00Z"},
  "usage": {"input_tokens": 12, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 4, "output_tokens": 9,
    "server_tool_use": {"web_search_requests": 1}}
}`},
		{"no content", `{"id":"msg_2","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":0}}`},
		{"stop sequence", `{"id":"msg_3","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hi"}],"stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":1,"output_tokens":1}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ReplyEvents([]byte("kept"), []byte(tc.reply))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(out), "kept") {
				t.Fatal("dst was not appended to")
			}
			evs := parseSSE(t, out[len("kept"):])
			var msg anthropicsdk.Message
			var names []string
			for _, e := range evs {
				var typed struct{ Type string }
				_ = json.Unmarshal([]byte(e.Data), &typed)
				if typed.Type != e.Name {
					t.Errorf("event %q carries type %q", e.Name, typed.Type)
				}
				if e.Name != "content_block_delta" || len(names) == 0 || names[len(names)-1] != "content_block_delta" {
					names = append(names, e.Name)
				}
				var ev anthropicsdk.MessageStreamEventUnion
				if err := json.Unmarshal([]byte(e.Data), &ev); err != nil {
					t.Fatalf("%s: %v", e.Data, err)
				}
				if err := msg.Accumulate(ev); err != nil {
					t.Fatalf("accumulate %s: %v", e.Data, err)
				}
			}
			if evs[0].Name != "message_start" || !strings.Contains(evs[0].Data, `"content":[]`) ||
				!strings.Contains(evs[0].Data, `"stop_reason":null`) || !strings.Contains(evs[0].Data, `"output_tokens":0`) {
				t.Errorf("message_start: %s", evs[0].Data)
			}
			if tail := names[len(names)-2:]; tail[0] != "message_delta" || tail[1] != "message_stop" {
				t.Errorf("the stream ends with %q", tail)
			}
			jsonEq(t, msg.RawJSON(), tc.reply)
		})
	}
}

// TestReplyEventsDeltas: each block's streamed members come in the deltas the API sends for
// them, the start carrying them empty: thinking before its signature, the input as one JSON
// string.
func TestReplyEventsDeltas(t *testing.T) {
	out, err := ReplyEvents(nil, []byte(`{"type":"message","content":[{"type":"thinking","thinking":"a\nb","signature":"s1"},`+
		`{"type":"tool_use","id":"t","name":"f","input":{"q":"x \"y\""}}],"stop_reason":"tool_use","usage":{"output_tokens":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"a\nb"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"s1"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"q\":\"x \\\"y\\\"\"}"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":2}}`,
		`{"type":"message_stop"}`,
	}
	evs := parseSSE(t, out)
	if len(evs) != len(want)+1 {
		t.Fatalf("%d events, want %d:\n%s", len(evs), len(want)+1, out)
	}
	for i, w := range want {
		if evs[i+1].Data != w {
			t.Errorf("event %d:\n got %s\nwant %s", i+1, evs[i+1].Data, w)
		}
	}
}

// TestReplyEventsRefusesWhatIsNoMessage: a reply ReplyEvents cannot stream is an error, and
// dst is returned as it was.
func TestReplyEventsRefusesWhatIsNoMessage(t *testing.T) {
	for _, reply := range []string{``, `{"type":"message","content":[`, `[]`, `{"type":"error","error":{"type":"api_error"}}`,
		`{"type":"message","content":null}`, `{"type":"message","content":"text"}`, `{"type":"message","content":["text"]}`} {
		out, err := ReplyEvents([]byte("x"), []byte(reply))
		if err == nil {
			t.Errorf("%s: no error", reply)
		}
		if string(out) != "x" {
			t.Errorf("%s: dst is %q, want it as it was", reply, out)
		}
	}
}
