package llmrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// TestClaudeCode runs Claude Code itself (the npm package's native binary) against the router,
// with an OpenAI provider, an Anthropic one and a Gemini one (the call and its STOP in separate
// chunks, a thought signature on the call). Through the OpenAI provider,
// Claude Code's request goes out translated, the upstream's tool call comes back as a tool_use
// block that Claude Code runs (it writes a file), its tool result goes out again, and the final
// text is what Claude Code reports; through the Anthropic one, the same round passes through. Claude Code silently retries a broken stream without streaming, so the test
// checks that every request it sent streamed and that the file and the text are there.
func TestClaudeCode(t *testing.T) {
	nodeReady(t)
	// npm ci runs with --ignore-scripts, so the package's postinstall never copied the native
	// binary over its placeholder: run the platform package's binary itself.
	matches, _ := filepath.Glob(filepath.Join(nodeDir, "node_modules", "@anthropic-ai", "claude-code-"+runtime.GOOS+"-*", "claude"))
	if len(matches) == 0 {
		skipOrFail(t, "no Claude Code binary for %s in %s", runtime.GOOS, nodeDir)
	}
	claude, _ := filepath.Abs(matches[0])

	work := t.TempDir()
	target := filepath.Join(work, "hello.txt")
	for _, api := range []string{"openai", "anthropic", "gemini"} {
		t.Run(api, func(t *testing.T) { runClaudeCode(t, claude, work, target, api, nil, new(requestLog)) })
	}
	// A pool of an OpenAI and an Anthropic provider of one model: the OpenAI one makes the tool
	// call, then fails, so the turn with the tool's result goes to the Anthropic one, which
	// refuses (as Anthropic does) to continue an unsigned tool turn with thinking on. Claude
	// Code keeps thinking on.
	t.Run("mixed pool", func(t *testing.T) {
		var rec requestLog
		call := claudeUpstream("openai", target, &rec)
		oa := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var req agentRequest
			if json.Unmarshal(body, &req) == nil && req.answered() {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			call(w, r)
		})
		answer := claudeUpstream("anthropic", target, &rec)
		var continued atomic.Int64
		anth := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			ok, turn := anthropicThinkingRule(t, w, r)
			if !ok {
				return
			}
			if turn {
				continued.Add(1)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			answer(w, r)
		})
		pa := provider("anth", anth.URL+"/v1", []string{"sk-upstream-cc-0002"}, "m", "m-up")
		pa.API = "anthropic"
		runClaudeCode(t, claude, work, target, "openai", &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
			provider("oa", oa.URL+"/v1", []string{"sk-upstream-cc-0001"}, "m", "m-up"), pa}}, &rec)
		if continued.Load() == 0 {
			t.Error("the Anthropic provider never got the turn with the tool's result")
		}
	})
}

// claudeUpstream answers like a model driving Claude Code's Write tool, in the given API's
// dialect: a request with the tool and no result yet gets a streamed call that writes target;
// any other gets streamed text. A whole (non-streamed) request, Claude Code's fallback after a
// broken stream, gets a 418 so that the test sees it.
func claudeUpstream(api, target string, rec *requestLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req agentRequest
		_ = json.Unmarshal(body, &req)
		if api == "gemini" {
			req.Stream = strings.Contains(r.URL.Path, ":streamGenerateContent")
		}
		hasWrite := slices.Contains(req.toolNames(), "Write")
		answered := req.answered()
		rec.add(r.URL.Path + " " + streamFlag(req.Stream))
		if !req.Stream {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		args, _ := json.Marshal(map[string]string{"file_path": target, "content": "hello from the router\n"})
		argStr, _ := json.Marshal(string(args))
		call := hasWrite && !answered
		if api == "anthropic" {
			ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
			evs := []string{ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":900,"output_tokens":1}}}`)}
			if call {
				evs = append(evs,
					ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_w1","name":"Write","input":{}}}`),
					ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":`+string(argStr)+`}}`),
					ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
					ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":20}}`))
			} else {
				evs = append(evs,
					ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
					ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Done: the file is written."}}`),
					ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
					ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":20}}`))
			}
			sseReply(append(evs, ev("message_stop", `{"type":"message_stop"}`))...)(w, r)
			return
		}
		if api == "gemini" {
			if answered && !strings.Contains(string(body), `"thoughtSignature":"c2lnLXc="`) {
				// Gemini 3 refuses a replayed call without its signature.
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error":{"code":400,"message":"Function call is missing a thought_signature","status":"INVALID_ARGUMENT"}}`)
				return
			}
			// The call and its STOP in separate chunks, as Gemini sends them.
			chunk := func(parts, finish string) string {
				return "data: " + `{"candidates":[{"content":{"role":"model","parts":[` + parts + `]},` + finish + `"index":0}],` +
					`"usageMetadata":{"promptTokenCount":900,"candidatesTokenCount":20,"totalTokenCount":920},"modelVersion":"m-up"}` + "\r\n\r\n"
			}
			if call {
				sseReply(chunk(`{"text":"I will write the file."}`, ""),
					chunk(`{"functionCall":{"name":"Write","args":`+string(args)+`},"thoughtSignature":"c2lnLXc="}`, ""),
					chunk(`{"text":""}`, `"finishReason":"STOP",`))(w, r)
				return
			}
			sseReply(chunk(`{"text":"Done: the file "}`, ""), chunk(`{"text":"is written."}`, `"finishReason":"STOP",`))(w, r)
			return
		}
		const head = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[`
		var evs []string
		if call {
			evs = []string{
				head + `{"index":0,"delta":{"role":"assistant","content":"I will write the file."},"finish_reason":null}]}` + "\n\n",
				head + `{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_w1","type":"function","function":{"name":"Write","arguments":""}}]},"finish_reason":null}]}` + "\n\n",
				head + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":` + string(argStr) + `}}]},"finish_reason":null}]}` + "\n\n",
				head + `{"index":0,"delta":{},"finish_reason":"tool_calls"}]}` + "\n\n",
			}
		} else {
			evs = []string{
				head + `{"index":0,"delta":{"role":"assistant","content":"Done: the file "},"finish_reason":null}]}` + "\n\n",
				head + `{"index":0,"delta":{"content":"is written."},"finish_reason":null}]}` + "\n\n",
				head + `{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n",
			}
		}
		evs = append(evs, head+`],"usage":{"prompt_tokens":900,"completion_tokens":20,"total_tokens":920}}`+"\n\n", doneEv)
		sseReply(evs...)(w, r)
	}
}

// runClaudeCode runs one Claude Code session through a router whose provider speaks api.
// runClaudeCode runs one Claude Code session against a router with one provider of api, or,
// when h is set, with h's providers, whose upstreams log their requests in rec.
func runClaudeCode(t *testing.T, claude, work, target, api string, h *Handler, rec *requestLog) {
	_ = os.Remove(target)
	if h == nil {
		up := newFakeUpstream(t, claudeUpstream(api, target, rec))
		base := up.URL + "/v1"
		if api == "gemini" {
			base = up.URL + "/v1beta"
		}
		pc := provider("up", base, []string{"sk-upstream-cc-0001"}, "m", "m-up")
		pc.API = api
		h = &Handler{Providers: []catalog.ProviderConfig{pc}}
	}
	h.Auth = &AuthConfig{Keys: []GatewayKey{{Name: "cc", Key: "gw-claude-code-key-1"}}}
	tr := newTestRouter(t, h)
	rs := serveRouter(t, tr)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, claude, "-p", "Write hello.txt, then say you are done.",
		"--output-format", "json", "--max-turns", "4", "--allowedTools", "Write")
	cmd.Dir = work
	cmd.Env = claudeEnv(t.TempDir(), rs.URL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	requests := rec.list()
	if err != nil {
		t.Fatalf("claude: %v\n%s\n%s\nupstream requests: %q\nrouter log:\n%s", err, lastBytes(string(out)), lastBytes(stderr.String()), requests, lastBytes(tr.logs.String()))
	}
	var res struct {
		Result  string `json:"result"`
		IsError bool   `json:"is_error"`
		Subtype string `json:"subtype"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("claude's output is not its JSON result: %v\n%s", err, out)
	}
	if res.IsError || res.Subtype != "success" || !strings.Contains(res.Result, "is written") {
		t.Errorf("claude reported %+v\nupstream requests: %q", res, requests)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "hello from the router\n" {
		t.Errorf("the tool call did not run: %q, %v", b, err)
	}
	for _, s := range requests {
		if !strings.HasSuffix(s, "stream=1") {
			t.Errorf("Claude Code fell back to a whole request (a stream broke): %q", requests)
			break
		}
	}
	if len(requests) < 2 {
		t.Errorf("upstream requests %q: want the tool round and the answer", requests)
	}
}

// claudeEnv is Claude Code's environment for a test: its own HOME, the router at url with the
// test's gateway key, model m for every role, and no traffic but the test's.
func claudeEnv(home, url string) []string {
	return append(os.Environ(),
		"HOME="+home,
		"ANTHROPIC_BASE_URL="+url,
		"ANTHROPIC_AUTH_TOKEN=gw-claude-code-key-1",
		"ANTHROPIC_API_KEY=",
		"ANTHROPIC_MODEL=m",
		"ANTHROPIC_SMALL_FAST_MODEL=m",
		"ANTHROPIC_DEFAULT_HAIKU_MODEL=m",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_AUTOUPDATER=1",
	)
}
