package llmrouter

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// TestClaudeCodeThroughOpenAIUpstream runs Claude Code itself (the npm package's native binary)
// against the router, whose only provider speaks OpenAI chat: Claude Code's Anthropic stream
// goes out translated, the upstream's tool call comes back as a tool_use block that Claude Code
// runs (it writes a file), its tool result goes out again, and the final text is what Claude
// Code reports. Claude Code silently retries a broken stream without streaming, so the test
// checks that every request it sent streamed and that the file and the text are there.
func TestClaudeCodeThroughOpenAIUpstream(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		skipOrFail(t, "npm is not on PATH: skipping the Claude Code test")
	}
	if _, err := exec.LookPath("node"); err != nil {
		skipOrFail(t, "node is not on PATH: skipping the Claude Code test")
	}
	ensureNodeModules(t, npm)
	// npm ci runs with --ignore-scripts, so the package's postinstall never copied the native
	// binary over its placeholder: run the platform package's binary itself.
	matches, _ := filepath.Glob(filepath.Join(nodeDir, "node_modules", "@anthropic-ai", "claude-code-"+runtime.GOOS+"-*", "claude"))
	if len(matches) == 0 {
		skipOrFail(t, "no Claude Code binary for %s in %s", runtime.GOOS, nodeDir)
	}
	claude, _ := filepath.Abs(matches[0])

	work := t.TempDir()
	target := filepath.Join(work, "hello.txt")
	var mu sync.Mutex
	var seen []string // one line per request: path, stream flag, tool count
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Stream   bool `json:"stream"`
			Messages []struct {
				Role string `json:"role"`
			} `json:"messages"`
			Tools []struct {
				Function struct{ Name string } `json:"function"`
			} `json:"tools"`
		}
		_ = json.Unmarshal(body, &req)
		hasWrite, answered := false, false
		for _, tl := range req.Tools {
			hasWrite = hasWrite || tl.Function.Name == "Write"
		}
		for _, m := range req.Messages {
			answered = answered || m.Role == "tool"
		}
		mu.Lock()
		seen = append(seen, r.URL.Path+" stream="+map[bool]string{true: "1", false: "0"}[req.Stream])
		mu.Unlock()
		const head = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[`
		var evs []string
		if hasWrite && !answered {
			args, _ := json.Marshal(map[string]string{"file_path": target, "content": "hello from the router\n"})
			argStr, _ := json.Marshal(string(args))
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
		if !req.Stream {
			// Claude Code only falls back to a whole reply when a stream broke: fail it loudly.
			w.WriteHeader(http.StatusTeapot)
			return
		}
		sseReply(evs...)(w, r)
	})
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("oai", up.URL+"/v1", []string{"sk-upstream-cc-0001"}, "m", "m-up")},
		Auth:      &AuthConfig{Keys: []GatewayKey{{Name: "cc", Key: "gw-claude-code-key-1"}}},
	})
	rs := serveRouter(t, tr)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, claude, "-p", "Write hello.txt, then say you are done.",
		"--output-format", "json", "--max-turns", "4", "--allowedTools", "Write")
	cmd.Dir = work
	cmd.Env = append(os.Environ(),
		"HOME="+t.TempDir(),
		"ANTHROPIC_BASE_URL="+rs.URL,
		"ANTHROPIC_AUTH_TOKEN=gw-claude-code-key-1",
		"ANTHROPIC_API_KEY=",
		"ANTHROPIC_MODEL=m",
		"ANTHROPIC_SMALL_FAST_MODEL=m",
		"ANTHROPIC_DEFAULT_HAIKU_MODEL=m",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_AUTOUPDATER=1",
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	mu.Lock()
	requests := append([]string(nil), seen...)
	mu.Unlock()
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
