package llmrouter

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// TestNodeResume: openai-node (iterator and .stream() helper) and @anthropic-ai/sdk read a
// stream that was cut mid-way and resumed on another target as one whole answer, with no
// error; a pool with no target that can continue raises the router's error.
func TestNodeResume(t *testing.T) {
	node := nodeReady(t)
	cut := newFakeUpstream(t, brokenChat(cutChat))
	cont := newFakeUpstream(t, continuingChat)
	cutMessages := newFakeUpstream(t, brokenMessages)
	contMessages := newFakeUpstream(t, continuingMessages)
	lonely := newFakeUpstream(t, brokenChat(cutChat))
	cut2 := newFakeUpstream(t, brokenChat(cutChat))
	prefix := provider("cont", cont.URL+"/v1", []string{"sk-c"}, "chat", "c-up", "helper", "c-up")
	prefix.Continuation = catalog.ContinuePrefix
	a1 := provider("a1", cutMessages.URL+"/v1", []string{"sk-a1"}, "messages", "m-up")
	a1.API = "anthropic"
	a2 := provider("a2", contMessages.URL+"/v1", []string{"sk-a2"}, "messages", "m-up")
	a2.API = "anthropic"
	tr := newTestRouter(t, &Handler{Strategy: "priority", Resume: 2, Providers: []catalog.ProviderConfig{
		// Each step has a target of its own that breaks: a broken target cools.
		provider("cut", cut.URL+"/v1", []string{"sk-p1"}, "chat", "m-up"),
		provider("cut2", cut2.URL+"/v1", []string{"sk-p2"}, "helper", "m-up"),
		provider("solo", lonely.URL+"/v1", []string{"sk-p3"}, "lonely", "m-up"),
		prefix, a1, a2,
	}})
	stdout, stderr := runNodeScript(t, node, "resume.mjs", serveRouter(t, tr).URL)
	type result struct {
		Text, Streamed, Finish, Error string
		IDs                           []string
		Blocks                        int
	}
	var out struct{ ChatIterator, ChatHelper, Messages, Refused result }
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr: %s", err, stdout, stderr)
	}
	for name, r := range map[string]result{"iterator": out.ChatIterator, "helper": out.ChatHelper} {
		if r.Error != "" || r.Text != resumeWant || r.Finish != "stop" || len(r.IDs) != 1 || r.IDs[0] != "c1" {
			t.Errorf("openai-node %s: %+v, want %q, stop, id c1", name, r, resumeWant)
		}
	}
	if m := out.Messages; m.Error != "" || m.Text != resumeWant || m.Streamed != resumeWant || m.Blocks != 1 ||
		m.Finish != "end_turn" || len(m.IDs) != 1 || m.IDs[0] != "msg_1" {
		t.Errorf("@anthropic-ai/sdk: %+v, want one block %q, end_turn, msg_1", m, resumeWant)
	}
	if r := out.Refused; !strings.Contains(r.Error, "no target of the pool can continue") || r.Text != "The quick brown" {
		t.Errorf("no continuing target: %+v, want the router's error after the text so far", r)
	}
}
