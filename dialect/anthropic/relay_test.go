package anthropic

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/dialect"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// relay drives a translator as the stream relay will: events framed by sse.Reader from the
// upstream's raw bytes, output appended to one reused buffer, Finish at io.EOF.
func relay(t *testing.T, tr dialect.StreamTranslator, upstream string) ([]byte, error) {
	t.Helper()
	r := sse.NewReader(strings.NewReader(upstream), 0)
	defer r.Release()
	var client, buf []byte
	for {
		ev, err := r.Next()
		if err == io.EOF {
			buf, err = tr.Finish(buf[:0])
			return append(client, buf...), err
		}
		if err != nil {
			t.Fatal(err)
		}
		if buf, err = tr.Event(buf[:0], ev); err != nil {
			return client, err
		}
		client = append(client, buf...)
	}
}

// Upstream bytes as real servers send them: CRLF line ends, comments, a BOM, an event whose
// data is split over two lines, Anthropic events without an event line.
func TestRelayFraming(t *testing.T) {
	up := "\xef\xbb\xbf: hello\r\n\r\n" + strings.ReplaceAll(string(bytes.Join(textStream(), nil)), "\n", "\r\n")
	up = strings.Replace(up, "event: content_block_stop\r\n", "", 1)
	up = strings.Replace(up, `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
		"data: {\"type\":\"content_block_delta\",\"index\":0,\r\ndata: \"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}", 1)
	out, err := relay(t, NewStreamToOpenAI(StreamToOpenAIOptions{}), up)
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := accumulate(t, out)
	if cc.Choices[0].Message.Content != "Hello, \"wörld\"\n" {
		t.Fatalf("content %q", cc.Choices[0].Message.Content)
	}

	up = strings.ReplaceAll(string(bytes.Join(oaThinkToolStream(), nil)), "\n\n", "\r\n\r\n: keepalive\r\n\r\n")
	out, err = relay(t, NewStreamFromOpenAI(StreamFromOpenAIOptions{}), up)
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	if msg := sdkAccumulate(t, out); len(msg.Content) != 4 {
		t.Fatalf("%d blocks", len(msg.Content))
	}
}
