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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// TestCodexCLI runs Codex CLI itself (`codex exec`, the npm package's native binary, found by
// its own launcher in the platform package that npm installs as an optional dependency, so no
// postinstall script is needed) through the router to a chat-only provider. Codex speaks only
// the Responses API: its request is translated to chat completions, the upstream's streamed
// tool call comes back as a function_call item that Codex runs (a shell command that writes a
// file), the command's output goes out again as a function_call_output, and the final text is
// what Codex reports. The same round runs through an `api anthropic` and an `api gemini`
// provider, the request and stream crossing the pivot twice.
func TestCodexCLI(t *testing.T) {
	node, launcher := codexReady(t)
	work := t.TempDir()
	target := filepath.Join(work, "hello.txt")
	for _, api := range []string{"openai", "anthropic", "gemini"} {
		t.Run(api, func(t *testing.T) {
			_ = os.Remove(target)
			var rec requestLog
			up := newFakeUpstream(t, codexUpstream(api, target, &rec))
			out, stderr, tr, err := runCodex(t, node, launcher, work, api, up.URL+"/v1", "Write hello.txt, then say you are done.")
			requests := rec.list()
			if err != nil {
				t.Fatalf("codex: %v\nstdout: %s\nstderr: %s\nupstream requests: %q\nrouter log:\n%s", err, lastBytes(string(out)),
					lastBytes(stderr), requests, lastBytes(tr.logs.String()))
			}
			if !strings.Contains(string(out), "Done: the file is written.") {
				t.Errorf("codex did not report the model's text:\nstdout: %s\nstderr: %s", out, lastBytes(stderr))
			}
			if b, err := os.ReadFile(target); err != nil || string(b) != "hello from the router\n" {
				t.Errorf("the tool call did not run: %q, %v\nstderr: %s", b, err, lastBytes(stderr))
			}
			if len(requests) < 2 {
				t.Fatalf("upstream requests %q: want the tool round and the answer", requests)
			}
			path := map[string]string{"openai": "/v1/chat/completions", "anthropic": "/v1/messages", "gemini": "/v1/models/m-up:streamGenerateContent"}[api]
			for _, s := range requests {
				if !strings.HasPrefix(s, path+" stream=1") {
					t.Errorf("upstream requests %q: every one a streamed %s", requests, path)
					break
				}
			}
			if last := requests[len(requests)-1]; !strings.Contains(last, "answered=1 paired=1") {
				t.Errorf("the command's output did not reach the upstream: %q", requests)
			}
			// Codex sends its sub-agent tools as the namespace multi_agent_v1: each reaches the
			// upstream as a function of its own.
			if !strings.Contains(requests[0], "multi_agent_v1__spawn_agent") {
				t.Errorf("the sub-agent tools did not reach the upstream: %q", requests[0])
			}
		})
	}

	// A stream cut after it began: Codex reports the router's response.failed as the turn's
	// error and exits non-zero, never taking the cut for an answer.
	cut := newFakeUpstream(t, sseReply(roleChunkEv("Hel")))
	out, stderr, _, err := runCodex(t, node, launcher, work, "openai", cut.URL+"/v1", "Write hello.txt, then say you are done.")
	if err == nil || !strings.Contains(stderr, "upstream closed the stream before its end") {
		t.Errorf("codex after a cut stream: %v\nstdout: %s\nstderr: %s", err, out, lastBytes(stderr))
	}
}

// TestCodexCLIApplyPatch: Codex sends apply_patch as a custom (freeform) tool, as it does for
// OpenAI's coding models, here through a chat-only, an Anthropic and a Gemini provider. The
// upstream must see it as a function whose string parameter input carries the patch, with the
// grammar in its description; its call of it comes back to Codex as a custom_tool_call, which
// Codex applies to the workspace's file; Codex's custom_tool_call_output goes out again as the
// call's tool result, paired to the replayed call, and the final text is what Codex reports.
// Before, the tool was dropped: the model never saw it, and a replayed call was a 400.
func TestCodexCLIApplyPatch(t *testing.T) {
	node, launcher := codexReady(t)
	for _, api := range []string{"openai", "anthropic", "gemini"} {
		t.Run(api, func(t *testing.T) {
			work := t.TempDir()
			notes := filepath.Join(work, "notes.txt")
			if err := os.WriteFile(notes, []byte("hello\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			const patch = "*** Begin Patch\n*** Update File: notes.txt\n@@\n-hello\n+hello from \"the\" patch\n*** End Patch\n"
			var rec requestLog
			up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var req agentRequest
				_ = json.Unmarshal(body, &req)
				if !req.answered() {
					// The tool as a function of one string, its grammar described.
					rec.add(fmt.Sprintf("call tool=%d input=%d grammar=%d", boolInt(slices.Contains(req.toolNames(), "apply_patch")),
						boolInt(bytes.Contains(body, []byte(`"input":{"type":"string"`))),
						boolInt(bytes.Contains(body, []byte(`start: begin_patch hunk+ end_patch`)))))
					call := agentCall{"p1", "apply_patch", map[string]string{"input": patch}}
					sseReply(agentStream(api, "I should patch the file.", []agentCall{call}, "")...)(w, r)
					return
				}
				// The call replayed with its input as the argument, and Codex's output paired to it.
				pair := map[string][2]string{"openai": {`"id":"p1"`, `"tool_call_id":"p1"`},
					"anthropic": {`"id":"toolu_p1"`, `"tool_use_id":"toolu_p1"`},
					"gemini":    {`"functionCall":{"name":"apply_patch"`, `"functionResponse":{"name":"apply_patch"`}}[api]
				rec.add(fmt.Sprintf("answer paired=%d replayed=%d output=%d", boolInt(bytes.Contains(body, []byte(pair[0])) && bytes.Contains(body, []byte(pair[1]))),
					boolInt(bytes.Contains(body, []byte(`*** Update File: notes.txt`))),
					boolInt(bytes.Contains(body, []byte(`M notes.txt`)))))
				sseReply(agentStream(api, "The file is patched.", nil, "Done: the file is patched.")...)(w, r)
			})
			pc := provider("up", up.URL+"/v1", []string{"sk-cdx-9f3a7c41d2"}, "m", "m-up")
			pc.API = api
			out, stderr, tr, err := runCodexCatalog(t, node, launcher, work, &Handler{Providers: []catalog.ProviderConfig{pc}},
				"Patch notes.txt, then say you are done.", codexFreeformCatalog)
			requests := rec.list()
			if err != nil || !strings.Contains(string(out), "Done: the file is patched.") {
				t.Fatalf("codex: %v\nstdout: %s\nstderr: %s\nupstream requests: %q\nrouter log:\n%s", err, lastBytes(string(out)),
					lastBytes(stderr), requests, lastBytes(tr.logs.String()))
			}
			if b, err := os.ReadFile(notes); err != nil || string(b) != "hello from \"the\" patch\n" {
				t.Errorf("the patch was not applied: %q, %v\nstderr: %s", b, err, lastBytes(stderr))
			}
			if want := []string{"call tool=1 input=1 grammar=1", "answer paired=1 replayed=1 output=1"}; !slices.Equal(requests, want) {
				t.Errorf("upstream requests %q, want %q", requests, want)
			}
		})
	}
}

// codexReady returns node's path and Codex CLI's launcher; it skips (fails in CI) without them.
func codexReady(t *testing.T) (node, launcher string) {
	t.Helper()
	node = nodeReady(t)
	launcher = filepath.Join(nodeDir, "node_modules", "@openai", "codex", "bin", "codex.js")
	if _, err := os.Stat(launcher); err != nil {
		skipOrFail(t, "no Codex CLI in %s: %v", nodeDir, err)
	}
	launcher, _ = filepath.Abs(launcher)
	return node, launcher
}

// TestCodexCLIViewImage: Codex's view_image tool answers with a function_call_output whose
// output is an input_image part. A chat tool message holds text only, so the image goes to
// a chat-only upstream as a user message after the tool message, and the turn goes on (it
// was a 400, and every later turn of the session carried the same item).
func TestCodexCLIViewImage(t *testing.T) {
	node, launcher := codexReady(t)
	work := t.TempDir()
	pic := filepath.Join(work, "dot.png")
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var pngBytes bytes.Buffer
	if err := png.Encode(&pngBytes, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pic, pngBytes.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var rec requestLog
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req agentRequest
		_ = json.Unmarshal(body, &req)
		const head = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[`
		var evs []string
		if !req.answered() && slices.Contains(req.toolNames(), "view_image") {
			call, _ := json.Marshal(map[string]string{"path": pic})
			args, _ := json.Marshal(string(call))
			evs = []string{
				head + `{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_v1","type":"function","function":{"name":"view_image","arguments":""}}]},"finish_reason":null}]}` + "\n\n",
				head + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":` + string(args) + `}}]},"finish_reason":null}]}` + "\n\n",
				head + `{"index":0,"delta":{},"finish_reason":"tool_calls"}]}` + "\n\n",
			}
		} else {
			// The image must follow the tool message, in a user message of its own.
			seen := "none"
			for i, m := range req.Messages {
				if m.Role == "tool" && i+1 < len(req.Messages) {
					next := req.Messages[i+1]
					if next.Role == "user" && bytes.Contains(next.Content, []byte(`"image_url":{"url":"data:image/png;base64,`)) {
						seen = "after the tool message"
					}
				}
			}
			rec.add("image " + seen)
			evs = []string{head + `{"index":0,"delta":{"role":"assistant","content":"I see a red dot."},"finish_reason":"stop"}]}` + "\n\n"}
		}
		sseReply(append(evs, doneEv)...)(w, r)
	})
	out, stderr, tr, err := runCodex(t, node, launcher, work, "openai", up.URL+"/v1", "Look at dot.png and say what it shows.")
	if err != nil {
		t.Fatalf("codex: %v\nstdout: %s\nstderr: %s\nrouter log:\n%s", err, lastBytes(string(out)), lastBytes(stderr), lastBytes(tr.logs.String()))
	}
	if got := rec.list(); !slices.Equal(got, []string{"image after the tool message"}) || !strings.Contains(string(out), "I see a red dot.") {
		t.Errorf("upstream saw %q; codex said:\n%s\nstderr: %s", got, out, lastBytes(stderr))
	}
}

// runCodex runs `codex exec` with prompt in work through a router whose one provider is the
// upstream at baseURL, of the given API.
func runCodex(t *testing.T, node, launcher, work, api, baseURL, prompt string) ([]byte, string, *testRouter, error) {
	t.Helper()
	pc := provider("up", baseURL, []string{"sk-cdx-9f3a7c41d2"}, "m", "m-up")
	pc.API = api
	return runCodexWith(t, node, launcher, work, &Handler{Providers: []catalog.ProviderConfig{pc}}, prompt)
}

// runCodexWith runs `codex exec` with prompt in work through a router built from h.
func runCodexWith(t *testing.T, node, launcher, work string, h *Handler, prompt string) ([]byte, string, *testRouter, error) {
	t.Helper()
	return runCodexCatalog(t, node, launcher, work, h, prompt, "")
}

// codexFreeformCatalog is a model catalog (Codex's model_catalog_json) that describes model
// "m" as Codex's bundled catalog describes OpenAI's coding models: apply_patch as a freeform
// custom tool with its Lark grammar, the shell as exec_command. Without it Codex knows nothing
// of "m" and sends neither, and it never asks the provider for a catalog of its own.
const codexFreeformCatalog = `{"models":[{"slug":"m","display_name":"m","base_instructions":"You are a coding agent.",
"apply_patch_tool_type":"freeform","shell_type":"shell_command","visibility":"list","supported_in_api":true,"priority":1,
"supported_reasoning_levels":[],"support_verbosity":false,"truncation_policy":{"mode":"tokens","limit":10000},
"experimental_supported_tools":[]}]}`

// runCodexCatalog is runCodexWith with catalog, when not empty, as Codex's model catalog.
func runCodexCatalog(t *testing.T, node, launcher, work string, h *Handler, prompt, catalog string) ([]byte, string, *testRouter, error) {
	t.Helper()
	h.Auth = &AuthConfig{Keys: []GatewayKey{{Name: "codex", Key: "gw-codex-key-1"}}}
	tr := newTestRouter(t, h)
	rs := serveRouter(t, tr)

	home := t.TempDir()
	config := `model = "m"
model_provider = "gw"
`
	if catalog != "" {
		path := filepath.Join(home, "models.json")
		if err := os.WriteFile(path, []byte(catalog), 0o600); err != nil {
			t.Fatal(err)
		}
		q, _ := json.Marshal(path)
		config = "model_catalog_json = " + string(q) + "\n" + config
	}
	config += `
[model_providers.gw]
name = "gw"
base_url = "` + rs.URL + `/v1"
env_key = "GW_KEY"
wire_api = "responses"
stream_max_retries = 0
request_max_retries = 0
`
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, launcher, "exec", "--skip-git-repo-check",
		"--dangerously-bypass-approvals-and-sandbox", "--color", "never", "-C", work, prompt)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "CODEX_HOME="+home, "HOME="+home, "GW_KEY=gw-codex-key-1",
		"OPENAI_API_KEY=", "OPENAI_BASE_URL=", "RUST_LOG=error", "NO_COLOR=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return out, stderr.String(), tr, err
}

// codexUpstream answers like a model driving Codex's shell tool, in chat completions: a
// request with the tool and no tool result gets a streamed call whose command writes target;
// any other gets streamed text. The tool may be any of the shapes Codex versions declare: shell
// (command as an argv array), shell_command or exec_command (a command line).
//
// With api "anthropic" it answers as the Messages API does, with "gemini" as Gemini's
// streamGenerateContent (alt=sse) does: the call whole in one chunk, STOP in the next.
func codexUpstream(api, target string, rec *requestLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req agentRequest
		_ = json.Unmarshal(body, &req)
		answered := req.answered()
		names := req.toolNames()
		line := "printf 'hello from the router\\n' > " + target
		var name string
		var args []byte
		for _, tool := range names {
			switch tool {
			case "shell":
				name = "shell"
				args, _ = json.Marshal(map[string]any{"command": []string{"bash", "-c", line}})
			case "shell_command":
				if name == "" {
					name = "shell_command"
					args, _ = json.Marshal(map[string]any{"command": line})
				}
			case "exec_command":
				if name == "" {
					name = "exec_command"
					args, _ = json.Marshal(map[string]any{"cmd": line})
				}
			}
		}
		if api == "gemini" {
			req.Stream = strings.HasSuffix(r.URL.Path, ":streamGenerateContent") // Gemini's is in the URL
		}
		// The second turn must replay the call and answer it under the same id (Gemini pairs
		// by name): the call id made the round trip through Codex.
		pair := map[string][2]string{"openai": {`"id":"call_c1"`, `"tool_call_id":"call_c1"`},
			"anthropic": {`"id":"toolu_c1"`, `"tool_use_id":"toolu_c1"`},
			"gemini":    {`"functionCall":{"name":"` + name + `"`, `"functionResponse":{"name":"` + name + `"`}}[api]
		paired := bytes.Contains(body, []byte(pair[0])) && bytes.Contains(body, []byte(pair[1]))
		rec.add(fmt.Sprintf("%s %s answered=%d paired=%d tools=%s", r.URL.Path, streamFlag(req.Stream), boolInt(answered),
			boolInt(paired), strings.Join(names, ",")))
		if !req.Stream {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		if api == "gemini" {
			const usage = `"usageMetadata":{"promptTokenCount":900,"candidatesTokenCount":20,"totalTokenCount":920}`
			var evs []string
			if name != "" && !answered {
				evs = []string{`data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"` + name + `","args":` + string(args) + `}}]},"index":0}],"modelVersion":"m-up"}` + "\n\n",
					`data: {"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0}],` + usage + `,"modelVersion":"m-up"}` + "\n\n"}
			} else {
				evs = []string{`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Done: the file "}]},"index":0}],"modelVersion":"m-up"}` + "\n\n",
					`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"is written."}]},"finishReason":"STOP","index":0}],` + usage + `,"modelVersion":"m-up"}` + "\n\n"}
			}
			sseReply(evs...)(w, r)
			return
		}
		if api == "anthropic" {
			ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
			evs := []string{ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":900,"output_tokens":1}}}`)}
			if name != "" && !answered {
				argStr, _ := json.Marshal(string(args))
				evs = append(evs,
					ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_c1","name":"`+name+`","input":{}}}`),
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
		const head = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[`
		var evs []string
		if name != "" && !answered {
			argStr, _ := json.Marshal(string(args))
			evs = []string{
				head + `{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}` + "\n\n",
				head + `{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_c1","type":"function","function":{"name":"` + name + `","arguments":""}}]},"finish_reason":null}]}` + "\n\n",
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

// TestCodexCLIContextFull: an upstream refuses a prompt over the model's context, each in its
// own words. Codex says the context window is full (and how to go on) only for the code
// context_length_exceeded, so the translated error carries it; without it Codex printed the
// raw error body.
func TestCodexCLIContextFull(t *testing.T) {
	node, launcher := codexReady(t)
	refusals := map[string]string{
		"openai":    `{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
		"anthropic": `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`,
		"gemini":    `{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}`,
	}
	for _, api := range []string{"openai", "anthropic", "gemini"} {
		t.Run(api, func(t *testing.T) {
			up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, refusals[api])
			})
			out, stderr, tr, err := runCodex(t, node, launcher, t.TempDir(), api, up.URL+"/v1", "Summarize the repository.")
			if err == nil || !strings.Contains(stderr, "ran out of room in the model's context window") {
				t.Errorf("codex after a context-length refusal: %v\nstdout: %s\nstderr: %s\nrouter log:\n%s", err, out,
					lastBytes(stderr), lastBytes(tr.logs.String()))
			}
		})
	}
}

// TestCodexCLIFailoverMidSession: the first target of a priority pool (chat completions) makes
// the session's shell call with its reasoning, then answers 429 for the turn with the
// command's output; the router fails over to the second target, an Anthropic one, which gets
// the whole history (the call under the id Codex was given, its output paired to it) and
// answers. Codex sees one successful session; the router's log names the target that
// answered and the attempts it took.
func TestCodexCLIFailoverMidSession(t *testing.T) {
	node, launcher := codexReady(t)
	work := t.TempDir()
	target := filepath.Join(work, "hello.txt")
	var rec requestLog
	first := codexUpstream("openai", target, &rec)
	oa := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req agentRequest
		_ = json.Unmarshal(body, &req)
		if req.answered() {
			rec.add("oa 429")
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}`)
			return
		}
		if slices.Contains(req.toolNames(), "exec_command") {
			// The call with its reasoning, as DeepSeek-style chat upstreams send it: Codex keeps
			// a reasoning item and replays it on the next turn.
			rec.add("oa call")
			call := agentCall{"call_c1", "exec_command", map[string]string{"cmd": "printf 'hello from the router\\n' > " + target}}
			sseReply(agentStream("openai", "I should write the file.", []agentCall{call}, "")...)(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		first(w, r)
	})
	anth := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"type":"thinking"`)) {
			rec.add("anth got an unsigned thinking block") // Anthropic refuses one
		}
		rec.add(fmt.Sprintf("anth paired=%d", boolInt(bytes.Contains(body, []byte(`"type":"tool_use","id":"call_c1"`)) &&
			bytes.Contains(body, []byte(`"tool_use_id":"call_c1"`)))))
		sseReply(agentStream("anthropic", "The file is there.", nil, "Done: the file is written.")...)(w, r)
	})
	pa := provider("anth", anth.URL+"/v1", []string{"sk-cdx-anth-77c2"}, "m", "m-up")
	pa.API = "anthropic"
	h := &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
		provider("oa", oa.URL+"/v1", []string{"sk-cdx-9f3a7c41d2"}, "m", "m-up"), pa}}
	out, stderr, tr, err := runCodexWith(t, node, launcher, work, h, "Write hello.txt, then say you are done.")
	requests := rec.list()
	if err != nil || !strings.Contains(string(out), "Done: the file is written.") {
		t.Fatalf("codex: %v\nstdout: %s\nstderr: %s\nupstream requests: %q\nrouter log:\n%s", err, lastBytes(string(out)),
			lastBytes(stderr), requests, lastBytes(tr.logs.String()))
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "hello from the router\n" {
		t.Errorf("the tool call did not run: %q, %v", b, err)
	}
	if !slices.Equal(requests, []string{"oa call", "oa 429", "anth paired=1"}) {
		t.Errorf("upstream requests %q: want the call, the 429, then the Anthropic target with the call and its output", requests)
	}
	if !answeredOnSecondAttempt(tr, "anth") {
		t.Errorf("no log line says the Anthropic target answered on the second attempt:\n%s", tr.logs.String())
	}
}

// TestCodexCLIGeminiSignature: a Gemini 3 upstream thinks, then calls the shell with a thought
// signature on the call, and refuses (as Gemini 3 does) a replayed call without its signature.
// The signature must make the round trip through Codex's Responses items.
func TestCodexCLIGeminiSignature(t *testing.T) {
	node, launcher := codexReady(t)
	work := t.TempDir()
	target := filepath.Join(work, "hello.txt")
	var rec requestLog
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req agentRequest
		_ = json.Unmarshal(body, &req)
		if req.answered() {
			if !bytes.Contains(body, []byte(`"thoughtSignature":"c2lnLTA="`)) {
				rec.add("unsigned")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error":{"code":400,"message":"Function call is missing a thought_signature in functionCall parts.","status":"INVALID_ARGUMENT"}}`)
				return
			}
			rec.add("signed")
			sseReply(agentStream("gemini", "The file is there.", nil, "Done: the file is written.")...)(w, r)
			return
		}
		rec.add("call")
		call := agentCall{"", "exec_command", map[string]string{"cmd": "printf 'hello from the router\\n' > " + target}}
		sseReply(agentStream("gemini", "I should write the file.", []agentCall{call}, "")...)(w, r)
	})
	out, stderr, tr, err := runCodex(t, node, launcher, work, "gemini", up.URL+"/v1beta", "Write hello.txt, then say you are done.")
	if err != nil || !strings.Contains(string(out), "Done: the file is written.") {
		t.Fatalf("codex: %v\nstdout: %s\nstderr: %s\nupstream requests: %q\nrouter log:\n%s", err, lastBytes(string(out)),
			lastBytes(stderr), rec.list(), lastBytes(tr.logs.String()))
	}
	if got := rec.list(); !slices.Equal(got, []string{"call", "signed"}) {
		t.Errorf("upstream requests %q", got)
	}
}

// answeredOnSecondAttempt reports whether a request's log line says provider answered it, on its
// second attempt: the first target failed, and the router failed over.
func answeredOnSecondAttempt(tr *testRouter, provider string) bool {
	for _, line := range strings.Split(tr.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"llm request"`) && strings.Contains(line, `"provider":"`+provider+`"`) &&
			strings.Contains(line, `"attempts":2`) && strings.Contains(line, `"outcome":"success"`) {
			return true
		}
	}
	return false
}
