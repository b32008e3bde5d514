package llmrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// nodeDir holds the Node client test: package.json pins the openai npm package, the lock file
// pins its integrity, chat.mjs is the client.
const nodeDir = "testdata/node"

// TestNodeSDK drives the router with the official openai npm package: a plain completion, a
// streamed one through the iterator and through the .stream() helper, and a stream that fails
// after its first event. It skips when node or npm is missing or npm cannot reach its registry.
func TestNodeSDK(t *testing.T) {
	node := nodeReady(t)

	// The stream comes with every quirk clients.md lists for upstreams: bare CR line ends,
	// keepalive comments, event names, a BOM.
	messy := "\ufeff: OPENROUTER PROCESSING\r\r" + strings.ReplaceAll("event: chunk\n"+cleanStream, "\n", "\r")
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/embeddings" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.25,-2]}],"model":"m-up","usage":{"prompt_tokens":1,"total_tokens":1}}`)
			return
		}
		if bytes.Contains(body, []byte(`"stream":true`)) {
			sseReply(splitEvery(messy, 7)...)(w, r)
			return
		}
		okChat(w, r)
	})
	broken := newFakeUpstream(t, cutAfter(chunkEv("Hel"), chunkEv("lo")[:20]))
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p1", up.URL+"/v1", []string{"sk-p1"}, "m", "m-up"),
		provider("px", broken.URL+"/v1", []string{"sk-px"}, "broken", "broken-up"),
	}})
	stdout, stderr := runNodeScript(t, node, "chat.mjs", serveRouter(t, tr).URL+"/v1")

	type usage struct {
		Prompt     int `json:"prompt_tokens"`
		Completion int `json:"completion_tokens"`
		Total      int `json:"total_tokens"`
	}
	type result struct {
		Text   string `json:"text"`
		Finish string `json:"finish"`
		Usage  *usage `json:"usage"`
		Chunks int    `json:"chunks"`
		Error  string `json:"error"`
		Vector []float64
	}
	var out struct{ Plain, Stream, Helper, Broken, Embedding result }
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr: %s", err, stdout, stderr)
	}
	check := func(name string, r result, text string, u usage) {
		t.Helper()
		if r.Error != "" {
			t.Errorf("%s: client error %q", name, r.Error)
			return
		}
		if r.Text != text || r.Finish != "stop" {
			t.Errorf("%s: text %q finish %q, want %q stop", name, r.Text, r.Finish, text)
		}
		if r.Usage == nil || *r.Usage != u {
			t.Errorf("%s: usage %+v, want %+v", name, r.Usage, u)
		}
	}
	check("plain", out.Plain, "hi", usage{3, 1, 4})
	check("stream", out.Stream, "Hello world", usage{5, 3, 8})
	check("helper", out.Helper, "Hello world", usage{5, 3, 8})
	// Three content chunks, the finish chunk and the usage chunk: no keepalive or named event
	// became a chunk of its own.
	if out.Stream.Chunks != 5 {
		t.Errorf("stream: %d chunks, want 5", out.Stream.Chunks)
	}
	if out.Broken.Error == "" {
		t.Errorf("a stream cut after its first event looked like a success to openai-node: %+v", out.Broken)
	} else if !strings.Contains(out.Broken.Error, "upstream") {
		t.Errorf("openai-node error %q does not carry the router's message", out.Broken.Error)
	}
	if out.Broken.Text != "Hel" {
		t.Errorf("broken stream text %q, want %q before the error", out.Broken.Text, "Hel")
	}
	// Float arrays would have reached openai-node as an empty vector, without an error.
	if e := out.Embedding; e.Error != "" || len(e.Vector) != 2 || e.Vector[0] != 0.25 || e.Vector[1] != -2 {
		t.Errorf("embedding through openai-node: %+v, want [0.25 -2]", e)
	}
}

// nodeReady returns node's path once node, npm and testdata/node's packages are there; it
// skips (fails in CI) otherwise.
func nodeReady(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not on PATH: skipping the npm client tests")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		skipOrFail(t, "npm is not on PATH: skipping the npm client tests")
	}
	ensureNodeModules(t, npm)
	return node
}

// runNodeScript runs one of testdata/node's scripts against the router at baseURL (as
// ROUTER_BASE_URL) and returns what it printed.
func runNodeScript(t *testing.T, node, script, baseURL string) (stdout, stderr []byte) {
	t.Helper()
	// The bound only ends a script that hangs: each SDK call has its own 10s timeout. Node's
	// start and imports alone can take seconds on a loaded machine, and a longest script
	// (resume.mjs) once ran out of 20s with its output complete.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), "ROUTER_BASE_URL="+baseURL)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\nstdout: %s\nstderr: %s", script, err, out, errb.Bytes())
	}
	return out, errb.Bytes()
}

// ensureNodeModules installs the locked packages into testdata/node (ignored by git) unless
// the pinned openai version is already there.
func ensureNodeModules(t *testing.T, npm string) {
	t.Helper()
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile(filepath.Join(nodeDir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	installed := true
	for name, want := range pkg.Dependencies {
		var got struct{ Version string }
		b, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", name, "package.json"))
		if err != nil || json.Unmarshal(b, &got) != nil || got.Version != want {
			installed = false
		}
	}
	if installed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = nodeDir
	outb, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	msg := string(outb)
	for _, s := range []string{"ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH", "network", "registry"} {
		if strings.Contains(msg, s) {
			skipOrFail(t, "npm ci could not reach the registry, skipping the openai npm client test: %v\n%s", err, lastBytes(msg))
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		skipOrFail(t, "npm ci did not finish within 120s (no network?), skipping the openai npm client test\n%s", lastBytes(msg))
	}
	t.Fatalf("npm ci in %s: %v\n%s", nodeDir, err, msg)
}

// TestNodeAnthropicSDK drives the router with the official @anthropic-ai/sdk npm package, to
// an OpenAI-compatible upstream: a tool round whole and through the strict .stream() helper,
// and a stream cut after it began, which the SDK must raise.
func TestNodeAnthropicSDK(t *testing.T) {
	node := nodeReady(t)
	up := newFakeUpstream(t, openAIAgentUpstream)
	broken := newFakeUpstream(t, cutAfter(roleChunkEv("Hel"), chunkEv("lo")[:20]))
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p1", up.URL+"/v1", []string{"sk-p1"}, "m", "m-up"),
		provider("px", broken.URL+"/v1", []string{"sk-px"}, "broken", "broken-up"),
	}})
	// Anthropic SDKs take the base URL without /v1.
	stdout, stderr := runNodeScript(t, node, "messages.mjs", serveRouter(t, tr).URL)
	type turn struct {
		Text, Stop string
		Tool       *struct {
			Name  string
			Input struct{ City string }
		}
		Usage struct {
			Input  int `json:"input_tokens"`
			Output int `json:"output_tokens"`
		}
	}
	type round struct {
		First, Second turn
		Error         string
	}
	var out struct {
		Whole, Stream round
		Broken        struct{ Text, Error string }
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr: %s", err, stdout, stderr)
	}
	for name, r := range map[string]round{"whole": out.Whole, "stream": out.Stream} {
		if r.Error != "" {
			t.Errorf("%s: client error %q", name, r.Error)
			continue
		}
		if f := r.First; f.Stop != "tool_use" || f.Tool == nil || f.Tool.Name != "get_weather" || f.Tool.Input.City != "Paris" || f.Usage.Output != 7 {
			t.Errorf("%s: first turn %+v", name, f)
		}
		if s := r.Second; s.Stop != "end_turn" || s.Text != "It is 18C in Paris." || s.Usage.Output != 6 || s.Usage.Input <= 0 {
			t.Errorf("%s: second turn %+v", name, s)
		}
	}
	if out.Broken.Error == "" {
		t.Errorf("a stream cut after its first event looked like a success to @anthropic-ai/sdk: %+v", out.Broken)
	}
	if out.Broken.Text != "Hel" {
		t.Errorf("broken stream text %q, want %q before the error", out.Broken.Text, "Hel")
	}
}

// TestNodeResponses drives the router's Responses API with the openai npm package, to a
// chat-only upstream: a tool round through responses.create whole, streamed, and through the
// responses.stream() helper, and a stream cut after it began, which the SDK must raise.
func TestNodeResponses(t *testing.T) {
	node := nodeReady(t)
	up := newFakeUpstream(t, openAIAgentUpstream)
	broken := newFakeUpstream(t, cutAfter(roleChunkEv("Hel"), chunkEv("lo")[:20]))
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p1", up.URL+"/v1", []string{"sk-p1"}, "m", "m-up"),
		provider("px", broken.URL+"/v1", []string{"sk-px"}, "broken", "broken-up"),
	}})
	stdout, stderr := runNodeScript(t, node, "responses.mjs", serveRouter(t, tr).URL+"/v1")
	type turn struct {
		Text, Status string
		Call         *struct{ Name, CallID, Arguments string } `json:"call"`
		Usage        struct {
			Input  int `json:"input_tokens"`
			Output int `json:"output_tokens"`
			Total  int `json:"total_tokens"`
		}
	}
	type round struct {
		First, Second turn
		Error         string
	}
	var out struct {
		Whole, Stream, Helper round
		Broken                struct{ Text, Error string }
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr: %s", err, stdout, stderr)
	}
	for name, r := range map[string]round{"whole": out.Whole, "stream": out.Stream, "helper": out.Helper} {
		if r.Error != "" {
			t.Errorf("%s: client error %q", name, r.Error)
			continue
		}
		if f := r.First; f.Status != "completed" || f.Call == nil || f.Call.Name != "get_weather" || f.Call.Arguments != `{"city":"Paris"}` ||
			f.Usage.Output != 7 || f.Usage.Total != 27 {
			t.Errorf("%s: first turn %+v", name, f)
		}
		if s := r.Second; s.Status != "completed" || s.Text != "It is 18C in Paris." || s.Usage.Output != 6 || s.Usage.Input != 30 {
			t.Errorf("%s: second turn %+v", name, s)
		}
	}
	if out.Broken.Error == "" || out.Broken.Text != "Hel" {
		t.Errorf("a stream cut after its first event: %+v, want the text so far and an error", out.Broken)
	}
}
