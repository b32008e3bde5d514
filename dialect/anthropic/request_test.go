package anthropic

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRequestFromOpenAI(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		opts           FromOpenAIOptions
	}{
		{
			name: "system, developer, merge, default max_tokens, stop, user, sampling",
			in: `{"model":"claude","messages":[
				{"role":"system","content":"Be brief."},
				{"role":"developer","content":[{"type":"text","text":"Use French."},{"type":"text","text":"  "}]},
				{"role":"user","content":"Hi"},
				{"role":"user","content":[{"type":"text","text":"there"}]},
				{"role":"assistant","content":""},
				{"role":"assistant","content":"Bonjour  \n"}],
				"stop":["END"," "],"temperature":0.2,"top_p":0.9,"user":"u-1","stream":true,
				"seed":4,"n":1,"frequency_penalty":0.5}`,
			opts: FromOpenAIOptions{Model: "claude-sonnet-4-5"},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"stream":true,"temperature":0.2,
				"system":[{"type":"text","text":"Be brief."},{"type":"text","text":"Use French."}],
				"messages":[{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":"there"}]},
					{"role":"assistant","content":[{"type":"text","text":"Bonjour"}]}],
				"stop_sequences":["END"],"metadata":{"user_id":"u-1"}}`,
		},
		{
			name: "images and PDFs",
			in: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[
				{"type":"text","text":"What is this?"},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
				{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg","detail":"high"}},
				{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0="}}]}]}`,
			want: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[
				{"type":"text","text":"What is this?"},
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
				{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},
				{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}]}]}`,
		},
		{
			name: "tools, tool calls, tool results, empty result, parallel off",
			in: `{"model":"m","max_completion_tokens":500,"max_tokens":9,"messages":[
				{"role":"user","content":"Weather in Paris and Rome?"},
				{"role":"assistant","content":null,"reasoning_content":"thinking...","tool_calls":[
					{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},
					{"id":"call_2","type":"function","function":{"name":"weather","arguments":""}}]},
				{"role":"tool","tool_call_id":"call_1","content":"18C"},
				{"role":"tool","tool_call_id":"call_2","content":""},
				{"role":"user","content":"Thanks"}],
				"tools":[{"type":"function","function":{"name":"weather","description":"Get weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
					{"type":"function","function":{"name":"noargs"}}],
				"tool_choice":"required","parallel_tool_calls":false}`,
			want: `{"model":"m","max_tokens":500,"messages":[
				{"role":"user","content":[{"type":"text","text":"Weather in Paris and Rome?"}]},
				{"role":"assistant","content":[
					{"type":"tool_use","id":"call_1","name":"weather","input":{"city":"Paris"}},
					{"type":"tool_use","id":"call_2","name":"weather","input":{}}]},
				{"role":"user","content":[
					{"type":"tool_result","tool_use_id":"call_1","content":[{"type":"text","text":"18C"}]},
					{"type":"tool_result","tool_use_id":"call_2"},
					{"type":"text","text":"Thanks"}]}],
				"tools":[{"name":"weather","description":"Get weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},
					{"name":"noargs","input_schema":{"type":"object","properties":{}}}],
				"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`,
		},
		{
			name: "named tool choice; tool_choice without tools dropped",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"}}`,
		},
		{
			name: "tool_choice none",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","parallel_tool_calls":false}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"none"}}`,
		},
		{
			name: "no tools: tool_choice dropped",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"auto"}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		},
		{
			name: "reasoning effort with default max_tokens grows max_tokens, drops temperature",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"medium","temperature":0.3}`,
			want: `{"model":"m","max_tokens":12288,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"thinking":{"type":"enabled","budget_tokens":8192}}`,
		},
		{
			name: "reasoning effort with a small max_tokens shrinks the budget",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"high","max_tokens":4000}`,
			want: `{"model":"m","max_tokens":4000,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"thinking":{"type":"enabled","budget_tokens":2000}}`,
		},
		{
			name: "reasoning effort with a tiny max_tokens: no thinking",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"low","max_tokens":1500,"temperature":0.5}`,
			want: `{"model":"m","max_tokens":1500,"temperature":0.5,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		},
		{
			name: "minimal effort: no thinking",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"minimal"}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		},
		{
			// Anthropic wants the assistant message a tool loop goes on with to begin with its
			// signed thinking block, which the pivot never carries: 400 with thinking on.
			name: "reasoning effort while tool results follow the last assistant message: no thinking",
			in: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"Looking.","reasoning_content":"hmm","tool_calls":[{"id":"c","type":"function","function":{"name":"ls","arguments":"{}"}}]},` +
				`{"role":"tool","tool_call_id":"c","content":"a.txt"}],"tools":[{"type":"function","function":{"name":"ls"}}],"reasoning_effort":"medium"}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]},{"role":"assistant","content":[{"type":"text","text":"Looking."},{"type":"tool_use","id":"c","name":"ls","input":{}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"c","content":[{"type":"text","text":"a.txt"}]}]}],"tools":[{"name":"ls","input_schema":{"type":"object","properties":{}}}]}`,
		},
		{
			name: "reasoning effort with an assistant prefill: no thinking",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"{"}],"reasoning_effort":"low"}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]},{"role":"assistant","content":[{"type":"text","text":"{"}]}]}`,
		},
		{
			name: "reasoning effort on a new user turn after a tool round: thinking",
			in: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"ls","arguments":"{}"}}]},` +
				`{"role":"tool","tool_call_id":"c","content":"a.txt"},{"role":"assistant","content":"One file."},{"role":"user","content":"thanks"}],"reasoning_effort":"low"}`,
			want: `{"model":"m","max_tokens":6144,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]},{"role":"assistant","content":[{"type":"tool_use","id":"c","name":"ls","input":{}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"c","content":[{"type":"text","text":"a.txt"}]}]},{"role":"assistant","content":[{"type":"text","text":"One file."}]},{"role":"user","content":[{"type":"text","text":"thanks"}]}],"thinking":{"type":"enabled","budget_tokens":2048}}`,
		},
		{
			name: "json_object and json_schema",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"object"}}}}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"system":[{"type":"text","text":"Respond with a single valid JSON value and nothing else (no prose, no code fences) that conforms to this JSON schema:\n{\"type\":\"object\"}"}]}`,
		},
		{
			name: "tool result with image parts",
			in:   `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"shot","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":[{"type":"text","text":"here"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/"}}]}]}`,
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]},{"role":"assistant","content":[{"type":"tool_use","id":"c","name":"shot","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"c","content":[{"type":"text","text":"here"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}}]}]}]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RequestFromOpenAI([]byte(tc.in), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, string(got), tc.want)
		})
	}
}

func TestRequestFromOpenAIErrors(t *testing.T) {
	for _, in := range []string{
		`{"model":`,
		`{"model":"m","messages":[{"role":"system","content":"only system"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,notbase64"}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}`,
		`{"model":"m","messages":[{"role":"wizard","content":"x"}]}`,
		// A file Anthropic cannot read inline would be dropped: the model would answer without it.
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"file","file":{"file_id":"file-1"}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"file","file":{"file_data":"data:text/csv;base64,YSxi"}}]}]}`,
		// Anthropic takes no audio, and a part type this translation does not know is not
		// dropped either.
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"video_url","video_url":{"url":"https://x.test/a.mp4"}}]}]}`,
	} {
		if _, err := RequestFromOpenAI([]byte(in), FromOpenAIOptions{}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: err = %v", in, err)
		}
	}
}

func TestRequestToOpenAI(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		opts           ToOpenAIOptions
	}{
		{
			name: "Claude Code shape: billing header dropped, blocks, cache_control, thinking adaptive, extras",
			in: `{"model":"claude-sonnet","max_tokens":32000,"stream":true,
				"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.0; cc_entrypoint=cli"},
					{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}},
					{"type":"text","text":"Be careful."}],
				"messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>ctx</system-reminder>"},{"type":"text","text":"fix the bug","cache_control":{"type":"ephemeral"}}]}],
				"thinking":{"type":"adaptive"},"context_management":{"edits":[]},"output_config":{"effort":"high"},
				"metadata":{"user_id":"user_abc"},"temperature":1,"top_k":5,
				"tools":[{"name":"Bash","description":"Run a command","input_schema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}},
					{"type":"web_search_20250305","name":"web_search","max_uses":5}]}`,
			opts: ToOpenAIOptions{Model: "gpt-4o"},
			want: `{"model":"gpt-4o","max_tokens":32000,"stream":true,"stream_options":{"include_usage":true},"temperature":1,"user":"user_abc",
				"messages":[{"role":"system","content":"You are Claude Code.\n\nBe careful."},
					{"role":"user","content":"<system-reminder>ctx</system-reminder>\n\nfix the bug"}],
				"tools":[{"type":"function","function":{"name":"Bash","description":"Run a command","parameters":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}}}]}`,
		},
		{
			name: "system string, tool round, is_error, thinking dropped, images, stop sequences capped",
			in: `{"model":"m","max_tokens":1024,"system":"Sys","stop_sequences":["a","b","c","d","e"],
				"thinking":{"type":"enabled","budget_tokens":10000},
				"tool_choice":{"type":"any","disable_parallel_tool_use":true},
				"tools":[{"name":"ls","input_schema":{"type":"object"}}],
				"messages":[
					{"role":"user","content":[{"type":"text","text":"look"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]},
					{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"redacted_thinking","data":"xx"},{"type":"text","text":"Listing."},{"type":"tool_use","id":"toolu_1","name":"ls","input":{"path": "/"}}]},
					{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","is_error":true,"content":"no such dir"},{"type":"text","text":"try again"}]},
					{"role":"assistant","content":[{"type":"tool_use","id":"toolu_2","name":"ls","input":{}}]},
					{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"a.txt"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"QQ"}}]}]}]}`,
			want: `{"model":"m","max_tokens":1024,"stop":["a","b","c","d"],"reasoning_effort":"medium",
				"tool_choice":"required","parallel_tool_calls":false,
				"tools":[{"type":"function","function":{"name":"ls","parameters":{"type":"object"}}}],
				"messages":[{"role":"system","content":"Sys"},
					{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},
					{"role":"assistant","content":"Listing.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"ls","arguments":"{\"path\":\"/\"}"}}]},
					{"role":"tool","tool_call_id":"toolu_1","content":"Error: no such dir"},
					{"role":"user","content":"try again"},
					{"role":"assistant","tool_calls":[{"id":"toolu_2","type":"function","function":{"name":"ls","arguments":"{}"}}]},
					{"role":"tool","tool_call_id":"toolu_2","content":"a.txt"},
					{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,QQ"}}]}]}`,
		},
		{
			name: "tool choices",
			in:   `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"}}`,
			want: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		},
		{
			name: "documents",
			in:   `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"notes"}},{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}}]}]}`,
			want: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"notes"},{"type":"file","file":{"filename":"document.pdf","file_data":"data:application/pdf;base64,JVBE"}}]}]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RequestToOpenAI([]byte(tc.in), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, string(got), tc.want)
		})
	}
	if _, err := RequestToOpenAI([]byte(`[1]`), ToOpenAIOptions{}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad body: err = %v", err)
	}
}

// Anthropic -> pivot -> Anthropic keeps the meaning: the same system text, turns, blocks, tool
// calls and results, tools, choices and limits. Dropped on purpose: the billing header, cache
// control, thinking blocks, server tools, top_k.
func TestRequestRoundTrip(t *testing.T) {
	in := `{"model":"claude","max_tokens":2000,"temperature":0.7,"stop_sequences":["STOP"],"metadata":{"user_id":"u"},
		"system":[{"type":"text","text":"x-anthropic-billing-header: a=b"},{"type":"text","text":"Sys","cache_control":{"type":"ephemeral"}}],
		"tools":[{"name":"read","description":"Read a file","input_schema":{"type":"object","properties":{"path":{"type":"string"}}}}],
		"tool_choice":{"type":"auto","disable_parallel_tool_use":true},
		"messages":[
			{"role":"user","content":"Read a.txt"},
			{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"Reading."},{"type":"tool_use","id":"toolu_1","name":"read","input":{"path":"a.txt"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"hello"},{"type":"text","text":"and?"},{"type":"image","source":{"type":"base64","media_type":"image/gif","data":"R0lG"}}]}]}`
	want := `{"model":"claude","max_tokens":2000,"temperature":0.7,"stop_sequences":["STOP"],"metadata":{"user_id":"u"},
		"system":[{"type":"text","text":"Sys"}],
		"tools":[{"name":"read","description":"Read a file","input_schema":{"type":"object","properties":{"path":{"type":"string"}}}}],
		"tool_choice":{"type":"auto","disable_parallel_tool_use":true},
		"messages":[
			{"role":"user","content":[{"type":"text","text":"Read a.txt"}]},
			{"role":"assistant","content":[{"type":"text","text":"Reading."},{"type":"tool_use","id":"toolu_1","name":"read","input":{"path":"a.txt"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"hello"}]},{"type":"text","text":"and?"},{"type":"image","source":{"type":"base64","media_type":"image/gif","data":"R0lG"}}]}]}`
	pivot, err := RequestToOpenAI([]byte(in), ToOpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := RequestFromOpenAI(pivot, FromOpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(back), want)

	// And pivot -> Anthropic -> pivot for an OpenAI conversation.
	oin := `{"model":"gpt","max_tokens":300,"messages":[{"role":"system","content":"S"},{"role":"user","content":"q"},
		{"role":"assistant","content":"a","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]},
		{"role":"tool","tool_call_id":"c1","content":"r"},{"role":"user","content":"more"}],
		"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto","stop":["x"],"user":"u"}`
	ant, err := RequestFromOpenAI([]byte(oin), FromOpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obk, err := RequestToOpenAI(ant, ToOpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(obk), oin)
}

func TestEstimateTokens(t *testing.T) {
	body := `{"model":"m","system":"` + strings.Repeat("a", 400) + `","messages":[{"role":"user","content":[{"type":"text","text":"` + strings.Repeat("b", 396) + `"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + strings.Repeat("Q", 100000) + `"}}]}],"tools":[{"name":"abcd","input_schema":{}}]}`
	n, err := EstimateTokens([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	// (400 + 396 + 4 + 2) bytes / 4 = 201 (rounded up), + 1600 image + 4 per message.
	if want := 201 + ImageTokens + 4; n != want {
		t.Errorf("estimate %d, want %d", n, want)
	}
	jsonEq(t, string(AppendCountTokens(nil, n)), `{"input_tokens":1805}`)
	if _, err := EstimateTokens([]byte("nope")); !errors.Is(err, ErrBadRequest) {
		t.Errorf("err = %v", err)
	}
}

func TestRequestTypesDecode(t *testing.T) {
	var r Request
	if err := json.Unmarshal([]byte(`{"system":"s","messages":[{"role":"user","content":"hi"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":"r"}]}]}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.System[0].Text != "s" || r.Messages[0].Content[0].Text != "hi" || r.Messages[1].Content[0].Content[0].Text != "r" {
		t.Fatalf("%+v", r)
	}
}

func TestRequestLimitsAndIDs(t *testing.T) {
	got, err := RequestFromOpenAI([]byte(`{"model":"m","temperature":1.6,"top_p":0.5,"messages":[{"role":"user","content":"x"},
		{"role":"assistant","tool_calls":[{"id":"functions.get:0","type":"function","function":{"name":"get","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"functions.get:0","content":"ok"}]}`), FromOpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(got), `{"model":"m","max_tokens":4096,"temperature":1,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]},
		{"role":"assistant","content":[{"type":"tool_use","id":"functions_get_0","name":"get","input":{}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"functions_get_0","content":[{"type":"text","text":"ok"}]}]}]}`)

	// The limit goes as asked: the router fits it to each target (its max_output, and
	// max_completion_tokens for OpenAI's reasoning models).
	body := []byte(`{"model":"m","max_tokens":32000,"messages":[{"role":"user","content":"x"}]}`)
	got, err = RequestToOpenAI(body, ToOpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(got), `{"model":"m","max_tokens":32000,"messages":[{"role":"user","content":"x"}]}`)
}

func TestUnsignedToolTurn(t *testing.T) {
	const call = `{"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"t1","name":"f","input":{}}]}`
	const signed = `{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"s"},{"type":"tool_use","id":"t1","name":"f","input":{}}]}`
	const result = `{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}`
	const user = `{"role":"user","content":"Hi"}`
	for name, tc := range map[string]struct {
		body string
		want bool
	}{
		"unsigned call, thinking on":      {`{"thinking":{"type":"enabled","budget_tokens":2048},"messages":[` + user + `,` + call + `,` + result + `]}`, true},
		"unsigned call, adaptive":         {`{"thinking":{"type":"adaptive"},"messages":[` + user + `,` + call + `,` + result + `]}`, true},
		"signed call":                     {`{"thinking":{"type":"enabled","budget_tokens":2048},"messages":[` + user + `,` + signed + `,` + result + `]}`, false},
		"thinking off":                    {`{"thinking":{"type":"disabled"},"messages":[` + user + `,` + call + `,` + result + `]}`, false},
		"no thinking":                     {`{"messages":[` + user + `,` + call + `,` + result + `]}`, false},
		"earlier call, last turn is text": {`{"thinking":{"type":"enabled","budget_tokens":2048},"messages":[` + user + `,` + call + `,` + result + `,{"role":"assistant","content":"Done."},` + user + `]}`, false},
		"first turn":                      {`{"thinking":{"type":"enabled","budget_tokens":2048},"messages":[` + user + `]}`, false},
	} {
		if got := UnsignedToolTurn([]byte(tc.body)); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}
