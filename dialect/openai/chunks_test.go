package openai

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestChunkWriter: the head is the upstream's id and model unless overridden, the first chunk
// alone carries the role, an empty stream still ends valid, and every event is JSON.
func TestChunkWriter(t *testing.T) {
	w := ChunkWriter{ID: []byte(`"up-1"`), Model: []byte(`"up-model"`), FallbackID: `"x"`, PublicModel: "pub", Created: 7}
	out := w.Content(nil, `"content":`, []byte(`"Hel"`))
	out = w.Content(out, `"reasoning_content":`, []byte(`"hm"`))
	out = w.Finish(out, "stop", &Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3,
		PromptTokensDetails: &PromptTokensDetails{CachedTokens: 1}, CompletionTokensDetails: &CompletionTokensDetails{ReasoningTokens: 1}})
	evs := strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n")
	if len(evs) != 5 || evs[4] != "data: [DONE]" || strings.Count(string(out), `"role"`) != 1 {
		t.Fatalf("%s", out)
	}
	for _, ev := range evs[:4] {
		var c Chunk
		if err := json.Unmarshal([]byte(strings.TrimPrefix(ev, "data: ")), &c); err != nil || c.ID != "up-1" || c.Model != "pub" || c.Created != 7 {
			t.Fatalf("%v %q", err, ev)
		}
	}
	if !strings.Contains(evs[3], `"cached_tokens":1`) || !strings.Contains(evs[3], `"reasoning_tokens":1`) {
		t.Errorf("usage chunk %s", evs[3])
	}
	empty := ChunkWriter{FallbackID: `"x"`}
	out = empty.Finish(nil, "length", nil)
	if want := "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n"; string(out) != want {
		t.Errorf("empty stream:\n%q\nwant\n%q", out, want)
	}
}
