package llmrouter

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/caddy-llm-router/dialect/gemini"
)

// aimockAnswer is what testdata/node/aimock.mjs answers to the upstream model id "good".
const aimockAnswer = "Hello from aimock"

// startAimock runs testdata/node/aimock.mjs and returns the mock's URL; the mock stops when
// the test ends.
func startAimock(t *testing.T, node string) string {
	t.Helper()
	cmd := exec.Command(node, "aimock.mjs")
	cmd.Dir = nodeDir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the script stops the mock and exits when its input ends
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case url, ok := <-line:
		if !ok || !strings.HasPrefix(url, "http://") {
			t.Fatalf("aimock.mjs did not print its URL (got %q)\nstderr: %s", url, stderr.String())
		}
		return url
	case <-time.After(20 * time.Second):
		t.Fatalf("aimock.mjs did not start within 20s\nstderr: %s", stderr.String())
	}
	return ""
}

// aimockClient is one way a client asks the router for model "m".
type aimockClient struct {
	name, path, body string
	stream           bool
}

var aimockClients = []aimockClient{
	{"openai stream", "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, true},
	{"openai whole", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, false},
	{"anthropic stream", "/v1/messages", `{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, true},
	{"gemini stream", "/v1beta/models/m:streamGenerateContent?alt=sse", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, true},
}

// aimockReply is what a client read of a reply: the text, whether the answer was complete
// (its dialect's finish), and the error that ended it, if any.
type aimockReply struct {
	text     string
	finished bool
	errMsg   string
}

// readAimockReply reads a reply in the client's dialect. A stream's events are checked for
// the hygiene real SDKs need; an error event must be its last.
func readAimockReply(t *testing.T, cl aimockClient, body string) aimockReply {
	t.Helper()
	var r aimockReply
	if !cl.stream {
		var c struct {
			Choices []struct {
				Message      struct{ Content string }
				FinishReason string `json:"finish_reason"`
			}
			Error *struct{ Message string }
		}
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatalf("reply is not JSON: %v: %q", err, body)
		}
		if c.Error != nil {
			return aimockReply{errMsg: c.Error.Message}
		}
		for _, ch := range c.Choices {
			r.text += ch.Message.Content
			r.finished = r.finished || ch.FinishReason == "stop"
		}
		return r
	}
	checkStreamHygiene(t, body)
	body = strings.TrimSuffix(body, gemini.StreamFailedComment) // what follows a Gemini error event
	for _, ev := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		if r.errMsg != "" {
			t.Errorf("an event after the error event: %q", ev)
		}
		name, data := "", ""
		for _, line := range strings.Split(ev, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = v
			}
		}
		if data == "[DONE]" {
			continue
		}
		var e struct {
			Type  string
			Error *struct{ Message string }
			// OpenAI chat
			Choices []struct {
				Delta        struct{ Content string }
				FinishReason string `json:"finish_reason"`
			}
			// Anthropic
			Delta struct {
				Text       string `json:"text"`
				StopReason string `json:"stop_reason"`
			} `json:"delta"`
			// Gemini
			Candidates []struct {
				Content      struct{ Parts []struct{ Text string } }
				FinishReason string `json:"finishReason"`
			}
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("event data is not JSON: %v: %q", err, ev)
		}
		switch {
		case e.Error != nil:
			if cl.path == "/v1/messages" && (name != "error" || e.Type != "error") {
				t.Errorf("an Anthropic client's error event is not `event: error` of type error: %q", ev)
			}
			r.errMsg = e.Error.Message
		case name == "message_delta":
			r.finished = e.Delta.StopReason == "end_turn"
		case name == "content_block_delta":
			r.text += e.Delta.Text
		}
		for _, c := range e.Choices {
			r.text += c.Delta.Content
			r.finished = r.finished || c.FinishReason == "stop"
		}
		for _, c := range e.Candidates {
			for _, p := range c.Content.Parts {
				r.text += p.Text
			}
			r.finished = r.finished || c.FinishReason == "STOP"
		}
	}
	return r
}

// TestAimockUpstream drives the router against @copilotkit/aimock, a mock of the OpenAI,
// Anthropic and Gemini APIs that nobody here wrote, in each upstream dialect and each client
// dialect, with its scripted faults. A fault before the stream began fails over: the client
// gets the next target's whole answer, and the target cools, for its Retry-After when it sent
// one. A stream cut after it began ends with an error event in the client's dialect.
func TestAimockUpstream(t *testing.T) {
	node := nodeReady(t)
	mock := startAimock(t, node)
	const cooldown = 45 * time.Second
	newRouter := func(t *testing.T, api string, upstreamIDs ...string) (*testRouter, *routerServer) {
		h := &Handler{Strategy: "priority", Cooldown: caddy.Duration(cooldown),
			FirstEventTimeout: caddy.Duration(300 * time.Millisecond)}
		base := mock + "/v1"
		if api == "gemini" {
			base = mock + "/v1beta"
		}
		for i, id := range upstreamIDs {
			p := provider(fmt.Sprintf("p%d", i+1), base, []string{"sk-aimock-key-0001"}, "m", id)
			p.API = api
			h.Providers = append(h.Providers, p)
		}
		tr := newTestRouter(t, h)
		return tr, serveRouter(t, tr)
	}
	ask := func(t *testing.T, rs *routerServer, cl aimockClient) (*http.Response, aimockReply) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp := rs.postTo(t, ctx, cl.path, cl.body)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading the reply: %v (got %q)", err, b)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return resp, readAimockReply(t, cl, string(b))
	}

	for _, api := range []string{"openai", "anthropic", "gemini"} {
		for _, cl := range aimockClients {
			t.Run(api+" upstream/"+cl.name, func(t *testing.T) {
				for _, f := range []struct {
					model  string
					cooled time.Duration
				}{
					{"rate-limited", 7 * time.Second}, // 429, Retry-After: 7
					{"overloaded", cooldown},          // 503 (aimock sends Retry-After on 429s only)
					{"server-error", cooldown},
					{"chaos-drop", cooldown},              // 500
					{"chaos-malformed", cooldown},         // 200 with a body that is no JSON
					{"chaos-rate-limit", 1 * time.Second}, // 429, Retry-After: 1
					{"chaos-disconnect", cooldown},        // the connection closed before the head
					{"stall", cooldown},                   // nothing for longer than first_event_timeout
				} {
					if f.model == "stall" && !cl.stream {
						continue // a whole reply's wait is response_header_timeout's, minutes
					}
					tr, rs := newRouter(t, api, f.model, "good")
					resp, got := ask(t, rs, cl)
					if p := resp.Header.Get("X-LLM-Router-Provider"); p != "p2" || got.text != aimockAnswer || !got.finished || got.errMsg != "" {
						t.Errorf("%s: from %q the client read %+v, want p2's whole answer %q", f.model, p, got, aimockAnswer)
					}
					until := tr.pools["m"].targets[0].health.CoolUntil()
					if want := tr.clock.Now().Add(f.cooled).UnixNano(); until != want {
						t.Errorf("%s: the target cools for %v, want %v", f.model, time.Duration(until-tr.clock.Now().UnixNano()), f.cooled)
					}
				}
				if !cl.stream {
					return
				}
				// Cut after its fourth chunk: every dialect's stream has begun its text by then.
				tr, rs := newRouter(t, api, "truncated")
				_, got := ask(t, rs, cl)
				if got.errMsg == "" || got.finished || got.text == "" || !strings.HasPrefix(aimockAnswer, got.text) || got.text == aimockAnswer {
					t.Errorf("truncated: the client read %+v, want part of the answer and then an error event", got)
				}
				if !tr.targetCooling(0) {
					t.Error("truncated: the target that cut its stream is not cooling")
				}
				// Cut after a time, wherever the stream is: never a success, whether the client had
				// seen a byte (then an error event ends the stream) or not (then a 502).
				tr, rs = newRouter(t, api, "disconnected")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				resp := rs.postTo(t, ctx, cl.path, cl.body)
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					t.Errorf("disconnected: reading the reply: %v", err)
				case resp.StatusCode == http.StatusOK:
					if got := readAimockReply(t, cl, string(b)); got.errMsg == "" || got.finished {
						t.Errorf("disconnected: the client read %+v, want an error event at its end", got)
					}
				case resp.StatusCode != http.StatusBadGateway || !hasErrorObject(b):
					t.Errorf("disconnected: status %d: %s, want an error 502", resp.StatusCode, b)
				}
				if !tr.targetCooling(0) {
					t.Error("disconnected: the target that cut its stream is not cooling")
				}
			})
		}
	}
}
