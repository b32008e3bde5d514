package sse

import (
	"bytes"
	"encoding/json"
	"testing"
)

const (
	openaiUsage    = `{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}`
	openaiFinal    = `data: {"id":"x","choices":[],"usage":` + openaiUsage + "}\n\n"
	anthropicDelta = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n"
)

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		ev   string
		want string // "" means nil
	}{
		{"openai final chunk", openaiFinal, openaiUsage},
		{"anthropic message_delta", anthropicDelta, `{"output_tokens":15}`},
		{"no usage", `data: {"id":"x","choices":[{"delta":{"content":"hi"}}]}` + "\n\n", ""},
		{"usage null", `data: {"id":"x","choices":[],"usage":null}` + "\n\n", ""},
		{"usage word in content", `data: {"choices":[{"delta":{"content":"the \"usage\": {} key"}}]}` + "\n\n", ""},
		{"usage key inside choices", `data: {"choices":[{"usage":{"a":1}}]}` + "\n\n", ""},
		{"usage deeper than one level", `data: {"response":{"x":{"usage":{"a":1}}}}` + "\n\n", ""},
		{"spaces", "data:  { \"id\" : 1 , \"usage\" :\t{ \"total_tokens\" : 3 } }\n\n", `{ "total_tokens" : 3 }`},
		{"after nested strings and arrays", `data: {"a":"x\"}{","b":[1,{"c":"]"}],"d":-1.5e3,"e":true,"usage":{"t":1}}` + "\n\n", `{"t":1}`},
		{"escaped backslash before quote", `data: {"a":"x\\","usage":{"t":2}}` + "\n\n", `{"t":2}`},
		{"anthropic message_start", "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n", `{"input_tokens":25,"output_tokens":1}`},
		{"responses completed", "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"output\":[{\"text\":\"usage\"}],\"usage\":{\"input_tokens\":5,\"output_tokens\":7}}}\n\n", `{"input_tokens":5,"output_tokens":7}`},
		{"responses created with null usage", "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n", ""},
		{"top level wins over nested", `data: {"response":{"usage":{"n":1}},"usage":{"t":1}}` + "\n\n", `{"t":1}`},
		{"nested when top level is null", `data: {"usage":null,"message":{"usage":{"n":1}}}` + "\n\n", `{"n":1}`},
		{"multi-line data", "data: {\"id\":\"x\",\ndata: \"usage\":{\"t\":4}}\n\n", `{"t":4}`},
		{"usage in a comment only", ": \"usage\":{\"t\":1}\ndata: {}\n\n", ""},
		{"not an object", `data: ["usage",{"t":1}]` + "\n\n", ""},
		{"truncated", `data: {"usage":{"t":1` + "\n\n", ""},
		{"malformed value", `data: {"usage":{"t":}}` + "\n\n", ""},
		{"usage a number", `data: {"usage":3}` + "\n\n", "3"},
		{"done", "data: [DONE]\n\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Usage([]byte(tc.ev))
			if (got == nil) != (tc.want == "") || string(got) != tc.want {
				t.Fatalf("Usage = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIsDoneAndTerminal(t *testing.T) {
	tests := []struct {
		ev             string
		done, terminal bool
	}{
		{"data: [DONE]\n\n", true, true},
		{"data:[DONE]\n\n", true, true},
		{"id: 9\ndata: [DONE]\n\n", true, true},
		{"data: [DONE]", true, true},
		{"data: [DONE] \n\n", false, false},
		{"data:  [DONE]\n\n", false, false},
		{"data: [DONE]\ndata: [DONE]\n\n", false, false},
		{"data: {\"content\":\"[DONE]\"}\n\n", false, false},
		{": [DONE]\n\n", false, false},
		{"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", false, true},
		{"event: response.completed\ndata: {}\n\n", false, true},
		{"event: message_delta\ndata: {\"type\":\"message_stop\"}\n\n", false, false},
		{"event: message_stop_x\ndata: {}\n\n", false, false},
		{"data: x\n\n", false, false},
		{"", false, false},
	}
	for _, tc := range tests {
		if got := IsDone([]byte(tc.ev)); got != tc.done {
			t.Errorf("IsDone(%q) = %v, want %v", tc.ev, got, tc.done)
		}
		var joined []byte
		if got, _ := inspect([]byte(tc.ev), &joined); got != tc.terminal {
			t.Errorf("inspect(%q) says terminal %v, want %v", tc.ev, got, tc.terminal)
		}
	}
}

// TestInspectValid: an event's data is what a client can parse, or the relay ends the stream
// before it.
func TestInspectValid(t *testing.T) {
	for ev, valid := range map[string]bool{
		"data: {\"a\":1}\n\n":                             true,
		"data:{\"a\":1} \n\n":                             true,
		"data: [DONE]\n\n":                                true,
		"data: [DONE] \n\n":                               true, // the SDKs test the prefix
		"event: ping\n\n":                                 true, // no data
		"id: 1\nretry: 5\n\n":                             true,
		": keepalive\n\n":                                 true,
		"data: {\"a\":\ndata: [1,\ndata: 2]}\n\n":         true, // joined as a client joins it
		"data: {\"a\":\n\n":                               false,
		"data: {'a': 1}\n\n":                              false,
		"data: [1,\n\n":                                   false,
		"data: <html><body>Bad gateway</body></html>\n\n": false,
		"data:\n\n":                                       false,
		"data: hello\n\n":                                 false,
		"event: message_stop\ndata: {\"type\":\"message_stop\"\n\n": false,
		// Past the check, not JSON: the price of checking in a few byte compares.
		"data: {\"a\":NaN}\n\n":                true,
		"data: {\"a\":1}\ndata: {\"b\":2}\n\n": true,
	} {
		var joined []byte
		if _, got := inspect([]byte(ev), &joined); got != valid {
			t.Errorf("inspect(%q) says valid %v, want %v", ev, got, valid)
		}
	}
}

func FuzzUsage(f *testing.F) {
	f.Add([]byte(openaiFinal))
	f.Add([]byte(anthropicDelta))
	f.Add([]byte(`data: {"a":"\\\"","usage":[{"x":"}"}]}`))
	f.Add([]byte(`"usage"`))
	f.Add([]byte(`g"usage`))
	f.Fuzz(func(t *testing.T, ev []byte) {
		if got, want := mentionsUsage(ev), bytes.Contains(ev, []byte(`"usage"`)); got != want {
			t.Fatalf("mentionsUsage(%q) = %v, bytes.Contains says %v", ev, got, want)
		}
		u := Usage(ev)
		if u == nil {
			return
		}
		// Whatever it returns is valid JSON cut from the event itself.
		if string(u) == "null" {
			t.Fatalf("Usage returned null")
		}
		if !json.Valid(u) {
			t.Fatalf("Usage returned invalid JSON %q", u)
		}
	})
}

func TestData(t *testing.T) {
	for _, tc := range []struct {
		ev, want string
		ok       bool
	}{
		{"data: {\"a\":1}\n\n", `{"a":1}`, true},
		{"event: x\ndata:{\"a\":1}\nid: 3\n\n", `{"a":1}`, true},
		{"data: {\"a\":\ndata: 1}\n\n", "{\"a\":\n1}", true},
		{"data:\n\n", "", true},
		{"id: 3\nretry: 10\n\n", "", false},
		{": keepalive\n\n", "", false},
	} {
		got, ok := Data([]byte(tc.ev))
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("Data(%q) = %q, %v; want %q, %v", tc.ev, got, ok, tc.want, tc.ok)
		}
	}
}
