package anthropic_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/llmrouter/caddy-llm-router/dialect/anthropic"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// The relay's loop for an OpenAI client served by an Anthropic upstream: one translator per
// attempt, one reused output buffer, the error event in the client's dialect when the upstream
// fails or stops short.
func ExampleStreamToOpenAI() {
	upstream := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":3}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
	// (cut here: no message_stop)

	r := sse.NewReader(strings.NewReader(upstream), 0)
	defer r.Release()
	tr := anthropic.NewStreamToOpenAI(anthropic.StreamToOpenAIOptions{Model: "sonnet", Created: 1})
	var out []byte
	var client strings.Builder
	for {
		ev, err := r.Next()
		if err == io.EOF {
			out, err = tr.Finish(out[:0])
		} else if err == nil {
			out, err = tr.Event(out[:0], ev)
		}
		client.Write(out) // one write and one flush per upstream event
		if err != nil {
			var ae *anthropic.Error
			typ, msg := "server_error", "upstream stream ended early"
			if errors.As(err, &ae) {
				typ, msg = anthropic.OpenAIErrorType(ae.Type), ae.Message
			} else if !errors.Is(err, anthropic.ErrIncomplete) {
				msg = err.Error()
			}
			client.Write(sse.ErrorEvent(sse.OpenAI, typ, msg))
			break
		}
		if err == nil && tr.Done() {
			break
		}
	}
	fmt.Print(client.String())
	// Output:
	// data: {"id":"msg_1","object":"chat.completion.chunk","created":1,"model":"sonnet","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}
	//
	// data: {"error":{"message":"upstream stream ended early","type":"server_error"}}
}
