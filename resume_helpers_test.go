package llmrouter

import (
	"encoding/json"
	"strings"
	"testing"
)

// chatStream is what a client assembles of an OpenAI chat stream.
type chatStream struct {
	text   string
	ids    map[string]int
	models map[string]int
	roles  int
	finish []string
	usage  []map[string]int
	done   int
	errors []string
}

// readChatStream assembles an OpenAI chat stream's events the way an SDK does.
func readChatStream(t testing.TB, body string) chatStream {
	t.Helper()
	s := chatStream{ids: map[string]int{}, models: map[string]int{}}
	for _, ev := range strings.Split(body, "\n\n") {
		data, ok := strings.CutPrefix(strings.TrimSpace(ev), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			s.done++
			continue
		}
		var ch struct {
			ID      string `json:"id"`
			Model   string `json:"model"`
			Choices []struct {
				Delta struct {
					Role    string `json:"role"`
					Content string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage map[string]int `json:"usage"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &ch); err != nil {
			t.Fatalf("event is not JSON: %q", data)
		}
		if ch.Error != nil {
			s.errors = append(s.errors, ch.Error.Message)
			continue
		}
		s.ids[ch.ID]++
		s.models[ch.Model]++
		for _, c := range ch.Choices {
			if c.Delta.Role != "" {
				s.roles++
			}
			s.text += c.Delta.Content
			if c.FinishReason != nil {
				s.finish = append(s.finish, *c.FinishReason)
			}
		}
		if ch.Usage != nil {
			s.usage = append(s.usage, ch.Usage)
		}
	}
	return s
}

// streamedText is the text of an OpenAI chat stream that must have ended well.
func streamedText(t testing.TB, body string) string {
	t.Helper()
	s := readChatStream(t, body)
	if len(s.errors) > 0 || s.done != 1 {
		t.Errorf("stream errors %q, [DONE] %d times:\n%s", s.errors, s.done, body)
	}
	return s.text
}
