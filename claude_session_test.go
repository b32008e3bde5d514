package llmrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// agentCall is one tool call a scripted upstream makes.
type agentCall struct {
	id, name string
	args     map[string]string
}

// TestClaudeCodeSession drives Claude Code through a session of several tool rounds against
// each upstream dialect, thinking on as Claude Code always asks: two Read calls at once (one
// of a long file), an Edit, a Read of a picture (an image in a tool result), a Bash command,
// then the answer. The upstream is scripted by how many tool results the request carries, so
// a lost, merged or misnumbered call shows as a wrong file or a stalled session.
//
// Each dialect is played twice: streamed, and whole, by an upstream that ignores "stream" and
// answers each streamed request with its whole reply, which the router streams to Claude Code.
// An Anthropic upstream refuses a tool result whose turn lost its signed thinking block, as
// the real API does.
func TestClaudeCodeSession(t *testing.T) {
	claude := claudeReady(t)
	for _, api := range []string{"anthropic", "openai", "gemini"} {
		t.Run(api, func(t *testing.T) { runClaudeSession(t, claude, api, false) })
		t.Run(api+" whole", func(t *testing.T) { runClaudeSession(t, claude, api, true) })
	}
}

// claudeReady returns Claude Code's native binary; it skips (fails in CI) without it.
func claudeReady(t *testing.T) string {
	t.Helper()
	nodeReady(t)
	matches, _ := filepath.Glob(filepath.Join(nodeDir, "node_modules", "@anthropic-ai", "claude-code-"+runtime.GOOS+"-*", "claude"))
	if len(matches) == 0 {
		skipOrFail(t, "no Claude Code binary for %s in %s", runtime.GOOS, nodeDir)
	}
	claude, _ := filepath.Abs(matches[0])
	return claude
}

func runClaudeSession(t *testing.T, claude, api string, whole bool) {
	work := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(work, "a.txt"), []byte("alpha\n"), 0o600))
	var long strings.Builder
	for i := 1; i <= 800; i++ {
		fmt.Fprintf(&long, "line %04d of the long file, padded to make it long enough\n", i)
	}
	long.WriteString("the-last-line-of-b\n")
	must(os.WriteFile(filepath.Join(work, "b.txt"), []byte(long.String()), 0o600))
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var pic bytes.Buffer
	must(png.Encode(&pic, img))
	must(os.WriteFile(filepath.Join(work, "dot.png"), pic.Bytes(), 0o600))

	// Each round's calls, picked by how many tool results the request carries.
	rounds := [][]agentCall{
		{{"call_ra", "Read", map[string]string{"file_path": filepath.Join(work, "a.txt")}},
			{"call_rb", "Read", map[string]string{"file_path": filepath.Join(work, "b.txt")}}},
		{{"call_ed", "Edit", map[string]string{"file_path": filepath.Join(work, "a.txt"), "old_string": "alpha", "new_string": "ALPHA"}}},
		{{"call_im", "Read", map[string]string{"file_path": filepath.Join(work, "dot.png")}}},
		{{"call_sh", "Bash", map[string]string{"command": "cat a.txt > c.txt", "description": "Copy a.txt"}}},
	}
	var rec requestLog
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		stream := bytes.Contains(body, []byte(`"stream":true`)) || strings.Contains(r.URL.Path, ":streamGenerateContent")
		results := countToolResults(api, body)
		var facts []string
		if results >= 2 {
			facts = append(facts, "long="+fmt.Sprint(bytes.Contains(body, []byte("the-last-line-of-b"))))
		}
		if results >= 4 {
			img := map[string]string{"openai": `data:image/png;base64,`, "gemini": `"inlineData":{"mimeType":"image/png"`, "anthropic": `"type":"image"`}[api]
			facts = append(facts, "image="+fmt.Sprint(bytes.Contains(body, []byte(img))))
		}
		if api == "gemini" && results > 0 {
			facts = append(facts, "sig="+fmt.Sprint(bytes.Contains(body, []byte(`"thoughtSignature":"c2lnLTA="`))))
		}
		if api == "anthropic" && results > 0 && !bytes.Contains(body, []byte(`"signature":"c2ln"`)) {
			rec.add(fmt.Sprintf("%s %s results=%d signed=false: refused", r.URL.Path, streamFlag(stream), results))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"messages.1.content.0.type: Expected `+"`thinking`"+` or `+"`redacted_thinking`"+`, but found `+"`tool_use`"+`."}}`)
			return
		}
		rec.add(fmt.Sprintf("%s %s results=%d %s", r.URL.Path, streamFlag(stream), results, strings.Join(facts, " ")))
		if !stream {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		var calls []agentCall
		if i := roundOf(results); i >= 0 && i < len(rounds) {
			calls = rounds[i]
		}
		// A request without Claude Code's tools (a title or a summary) gets text.
		if !bytes.Contains(body, []byte(`"Bash"`)) {
			calls = nil
		}
		if whole {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, agentWhole(api, "Let me work on it.", calls, "All done: c.txt holds ALPHA."))
			return
		}
		sseReply(agentStream(api, "Let me work on it.", calls, "All done: c.txt holds ALPHA.")...)(w, r)
	})
	base := up.URL + "/v1"
	if api == "gemini" {
		base = up.URL + "/v1beta"
	}
	pc := provider("up", base, []string{"sk-upstream-cc-0001"}, "m", "m-up")
	pc.API = api
	res, tr := runClaudePrompt(t, claude, work, &Handler{Providers: []catalog.ProviderConfig{pc}},
		"Read a.txt and b.txt, change alpha to ALPHA in a.txt, look at dot.png, copy a.txt to c.txt.",
		"Read,Edit,Bash")
	requests := rec.list()
	if res.IsError || res.Subtype != "success" || !strings.Contains(res.Result, "All done") {
		t.Errorf("claude reported %+v\nupstream requests: %q\nrouter log:\n%s", res, requests, lastBytes(tr.logs.String()))
	}
	if b, err := os.ReadFile(filepath.Join(work, "c.txt")); err != nil || string(b) != "ALPHA\n" {
		t.Errorf("the session's tool rounds did not all run: c.txt %q, %v\nupstream requests: %q", b, err, requests)
	}
	var last string
	for _, s := range requests {
		if !strings.Contains(s, " stream=1 ") && !strings.Contains(s, "count_tokens") {
			t.Errorf("Claude Code fell back to a whole request (a stream broke): %q", requests)
		}
		if strings.Contains(s, "=false") {
			t.Errorf("a request lost part of the session: %q", s)
		}
		if strings.Contains(s, "results=5") {
			last = s
		}
	}
	if last == "" {
		t.Errorf("no request carried all five tool results: %q", requests)
	}
}

// roundOf maps a request's tool result count to the round to play: 0 results the first, 2
// (both parallel reads) the second, and one more result per later round.
func roundOf(results int) int {
	switch {
	case results == 0:
		return 0
	case results == 1:
		return -1 // one of two parallel results went missing: answer text, the test sees it
	default:
		return results - 1
	}
}

// countToolResults counts the tool results in an upstream request of api's dialect.
func countToolResults(api string, body []byte) int {
	switch api {
	case "openai":
		return bytes.Count(body, []byte(`"role":"tool"`))
	case "gemini":
		return bytes.Count(body, []byte(`"functionResponse"`))
	}
	return bytes.Count(body, []byte(`"type":"tool_result"`))
}

// agentStream is a streamed upstream reply in api's dialect: reasoning, then calls (several at
// once, their argument deltas interleaved), or, with no calls, text.
func agentStream(api, thought string, calls []agentCall, text string) []string {
	argsOf := func(c agentCall) string { b, _ := json.Marshal(c.args); return string(b) }
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	switch api {
	case "anthropic":
		ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
		evs := []string{ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":900,"output_tokens":1}}}`),
			ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":`+q(thought)+`}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}`),
			ev("content_block_stop", `{"type":"content_block_stop","index":0}`)}
		stop := "end_turn"
		if len(calls) == 0 {
			evs = append(evs, ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`),
				ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":`+q(text)+`}}`),
				ev("content_block_stop", `{"type":"content_block_stop","index":1}`))
		}
		for i, c := range calls {
			stop = "tool_use"
			evs = append(evs, ev("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"tool_use","id":%q,"name":%q,"input":{}}}`, i+1, "toolu_"+c.id, c.name)),
				ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":%s}}`, i+1, q(argsOf(c)))),
				ev("content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, i+1)))
		}
		return append(evs, ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stop+`","stop_sequence":null},"usage":{"output_tokens":20}}`),
			ev("message_stop", `{"type":"message_stop"}`))
	case "gemini":
		chunk := func(parts, finish string) string {
			return "data: " + `{"candidates":[{"content":{"role":"model","parts":[` + parts + `]},` + finish + `"index":0}],` +
				`"usageMetadata":{"promptTokenCount":900,"candidatesTokenCount":20,"totalTokenCount":920},"modelVersion":"m-up"}` + "\r\n\r\n"
		}
		evs := []string{chunk(`{"text":`+q(thought)+`,"thought":true}`, "")}
		if len(calls) == 0 {
			return append(evs, chunk(`{"text":`+q(text)+`}`, `"finishReason":"STOP",`))
		}
		// Parallel calls in one chunk, the signature on the first only, as Gemini 3 sends them.
		var parts []string
		for i, c := range calls {
			sig := ""
			if i == 0 {
				sig = `,"thoughtSignature":"c2lnLTA="`
			}
			parts = append(parts, `{"functionCall":{"name":`+q(c.name)+`,"args":`+argsOf(c)+`}`+sig+`}`)
		}
		return append(evs, chunk(strings.Join(parts, ","), ""), chunk(`{"text":""}`, `"finishReason":"STOP",`))
	}
	const head = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[`
	d := func(delta, finish string) string {
		return head + `{"index":0,"delta":` + delta + `,"finish_reason":` + finish + `}]}` + "\n\n"
	}
	evs := []string{d(`{"role":"assistant","content":null,"reasoning_content":`+q(thought)+`}`, "null")}
	if len(calls) == 0 {
		evs = append(evs, d(`{"content":`+q(text)+`}`, "null"), d(`{}`, `"stop"`))
	}
	for i, c := range calls {
		evs = append(evs, d(fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":%q,"type":"function","function":{"name":%q,"arguments":""}}]}`, i, c.id, c.name), "null"))
	}
	// The arguments in two halves each, interleaved across the calls.
	for half := 0; half < 2; half++ {
		for i, c := range calls {
			a := argsOf(c)
			part := a[:len(a)/2]
			if half == 1 {
				part = a[len(a)/2:]
			}
			evs = append(evs, d(fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}`, i, q(part)), "null"))
		}
	}
	if len(calls) > 0 {
		evs = append(evs, d(`{}`, `"tool_calls"`))
	}
	return append(evs, head+`],"usage":{"prompt_tokens":900,"completion_tokens":20,"total_tokens":920}}`+"\n\n", doneEv)
}

// agentWhole is agentStream's reply as a whole one, pretty-printed, as an upstream that
// ignores "stream" sends it, or as one to an unstreamed request; thought "" is no thinking.
func agentWhole(api, thought string, calls []agentCall, text string) string {
	argsOf := func(c agentCall) json.RawMessage { b, _ := json.Marshal(c.args); return b }
	var reply any
	switch api {
	case "anthropic":
		content := []any{}
		if thought != "" {
			content = append(content, map[string]any{"type": "thinking", "thinking": thought, "signature": "c2ln"})
		}
		stop := "end_turn"
		if len(calls) == 0 {
			content = append(content, map[string]any{"type": "text", "text": text})
		}
		for _, c := range calls {
			stop = "tool_use"
			content = append(content, map[string]any{"type": "tool_use", "id": "toolu_" + c.id, "name": c.name, "input": argsOf(c)})
		}
		reply = map[string]any{"id": "msg_1", "type": "message", "role": "assistant", "model": "m-up", "content": content,
			"stop_reason": stop, "stop_sequence": nil, "usage": map[string]any{"input_tokens": 900, "output_tokens": 20}}
	case "gemini":
		parts := []any{}
		if thought != "" {
			parts = append(parts, map[string]any{"text": thought, "thought": true})
		}
		if len(calls) == 0 {
			parts = append(parts, map[string]any{"text": text})
		}
		for i, c := range calls {
			p := map[string]any{"functionCall": map[string]any{"name": c.name, "args": argsOf(c)}}
			if i == 0 {
				p["thoughtSignature"] = "c2lnLTA="
			}
			parts = append(parts, p)
		}
		reply = map[string]any{"candidates": []any{map[string]any{"content": map[string]any{"role": "model", "parts": parts},
			"finishReason": "STOP", "index": 0}},
			"usageMetadata": map[string]any{"promptTokenCount": 900, "candidatesTokenCount": 20, "totalTokenCount": 920}, "modelVersion": "m-up"}
	default:
		msg := map[string]any{"role": "assistant", "content": nil}
		if thought != "" {
			msg["reasoning_content"] = thought
		}
		finish := "stop"
		if len(calls) == 0 {
			msg["content"] = text
		}
		var tcs []any
		for _, c := range calls {
			finish = "tool_calls"
			tcs = append(tcs, map[string]any{"id": c.id, "type": "function", "function": map[string]any{"name": c.name, "arguments": string(argsOf(c))}})
		}
		if tcs != nil {
			msg["tool_calls"] = tcs
		}
		reply = map[string]any{"id": "c1", "object": "chat.completion", "created": 1, "model": "m-up",
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   map[string]any{"prompt_tokens": 900, "completion_tokens": 20, "total_tokens": 920}}
	}
	b, _ := json.MarshalIndent(reply, "", "  ")
	return string(b)
}

// claudeResult is Claude Code's --output-format json result.
type claudeResult struct {
	Result  string `json:"result"`
	IsError bool   `json:"is_error"`
	Subtype string `json:"subtype"`
}

// runClaudePrompt runs Claude Code with prompt in work through a router built from h, allowing
// the given tools, and returns its JSON result.
func runClaudePrompt(t *testing.T, claude, work string, h *Handler, prompt, tools string) (claudeResult, *testRouter) {
	t.Helper()
	h.Auth = &AuthConfig{Keys: []GatewayKey{{Name: "cc", Key: "gw-claude-code-key-1"}}}
	tr := newTestRouter(t, h)
	rs := serveRouter(t, tr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, claude, "-p", prompt, "--output-format", "json", "--max-turns", "8", "--allowedTools", tools)
	cmd.Dir = work
	cmd.Env = claudeEnv(t.TempDir(), rs.URL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res claudeResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("claude: %v; its output is not its JSON result: %v\n%s\n%s\nrouter log:\n%s", err, jerr, lastBytes(string(out)),
			lastBytes(stderr.String()), lastBytes(tr.logs.String()))
	}
	return res, tr
}

// TestClaudeCodeResumedOnAnthropic: with resume on, an OpenAI target's answer is cut mid-text
// and an Anthropic target continues it. Claude Code asks thinking on and sends
// context_management with a clear_thinking edit; the continuation is a prefill, which cannot
// have thinking, and Anthropic refuses a clear_thinking edit without thinking on ("strategy
// requires thinking to be enabled"), as the fake upstream does. Claude Code must see one
// whole answer.
func TestClaudeCodeResumedOnAnthropic(t *testing.T) {
	claude := claudeReady(t)
	const head = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[`
	oa := newFakeUpstream(t, sseReply(head+`{"index":0,"delta":{"role":"assistant","content":"Done: the file "},"finish_reason":null}]}`+"\n\n"))
	var rec requestLog
	anth := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream            bool            `json:"stream"`
			Thinking          json.RawMessage `json:"thinking"`
			ContextManagement struct {
				Edits []struct {
					Type string `json:"type"`
				} `json:"edits"`
			} `json:"context_management"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		if !req.Stream {
			rec.add("whole") // Claude Code's retry after a broken stream
			w.WriteHeader(http.StatusTeapot)
			return
		}
		for _, e := range req.ContextManagement.Edits {
			if strings.HasPrefix(e.Type, "clear_thinking") && req.Thinking == nil {
				rec.add("refused")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"`+"`clear_thinking_20251015` strategy requires `thinking` to be enabled"+`"}}`)
				return
			}
		}
		rec.add("continued")
		sseReply(agentStream("anthropic", "", nil, "is written.")[5:]...)(w, r)
	})
	pa := provider("anth", anth.URL+"/v1", []string{"sk-upstream-cc-0002"}, "m", "m-up")
	pa.API = "anthropic"
	h := &Handler{Strategy: "priority", Resume: 1, Providers: []catalog.ProviderConfig{
		provider("oa", oa.URL+"/v1", []string{"sk-upstream-cc-0001"}, "m", "m-up"), pa}}
	res, tr := runClaudePrompt(t, claude, t.TempDir(), h, "Say you are done.", "Read")
	if res.IsError || !strings.Contains(res.Result, "Done: the file is written.") {
		t.Errorf("claude reported %+v\nupstream requests: %q\nrouter log:\n%s", res, rec.list(), lastBytes(tr.logs.String()))
	}
	if got := rec.list(); !slices.Equal(got, []string{"continued"}) {
		t.Errorf("the Anthropic target's requests: %q", got)
	}
}

// TestClaudeCodeFailoverToGemini: the first target of a priority pool (chat completions) makes
// Claude Code's Write call, then answers 429 for the turn with the tool's result; the router
// fails over to a Gemini 3 target, which refuses a replayed call without a thought signature
// (the chat target gave none, so the router must mark it as Gemini allows). Claude Code sees
// one successful session, and the router's log names the target that answered.
func TestClaudeCodeFailoverToGemini(t *testing.T) {
	claude := claudeReady(t)
	work := t.TempDir()
	target := filepath.Join(work, "hello.txt")
	var rec requestLog
	oa := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if countToolResults("openai", body) > 0 {
			rec.add("oa 429")
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}`)
			return
		}
		var calls []agentCall
		if bytes.Contains(body, []byte(`"Write"`)) {
			rec.add("oa call")
			calls = []agentCall{{"call_w1", "Write", map[string]string{"file_path": target, "content": "hello from the router\n"}}}
		}
		sseReply(agentStream("openai", "I should write it.", calls, "Nothing to do.")...)(w, r)
	})
	gem := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if countToolResults("gemini", body) > 0 && !bytes.Contains(body, []byte(`"functionCall":{"name":"Write"`)) {
			rec.add("gemini lost the call")
		}
		if bytes.Contains(body, []byte(`"functionCall"`)) && !bytes.Contains(body, []byte(`"thoughtSignature"`)) {
			rec.add("gemini 400")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"code":400,"message":"Function call is missing a thought_signature in functionCall parts.","status":"INVALID_ARGUMENT"}}`)
			return
		}
		rec.add("gemini answered")
		sseReply(agentStream("gemini", "It is written.", nil, "All done: the file is written.")...)(w, r)
	})
	pg := provider("gem", gem.URL+"/v1beta", []string{"sk-upstream-cc-0002"}, "m", "m-up")
	pg.API = "gemini"
	h := &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
		provider("oa", oa.URL+"/v1", []string{"sk-upstream-cc-0001"}, "m", "m-up"), pg}}
	res, tr := runClaudePrompt(t, claude, work, h, "Write hello.txt, then say you are done.", "Write")
	requests := rec.list()
	if res.IsError || !strings.Contains(res.Result, "All done") {
		t.Errorf("claude reported %+v\nupstream requests: %q\nrouter log:\n%s", res, requests, lastBytes(tr.logs.String()))
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "hello from the router\n" {
		t.Errorf("the tool call did not run: %q, %v", b, err)
	}
	if !slices.Equal(requests, []string{"oa call", "oa 429", "gemini answered"}) {
		t.Errorf("upstream requests %q: want the call, the 429, then Gemini's answer", requests)
	}
	if !answeredOnSecondAttempt(tr, "gem") {
		t.Errorf("no log line says the Gemini target answered on the second attempt:\n%s", tr.logs.String())
	}
}
