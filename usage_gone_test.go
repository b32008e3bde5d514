package llmrouter

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// chargeCase is one dialect pair of the charge tests: a stream of ten pieces of text (head)
// that an upstream may end well (tail) or not.
type chargeCase struct {
	name, api, path, body string
	head, tail            []string
	// goneIn is the exact input a stream cut before its end is charged (the upstream
	// reported it first), 0 for an estimate.
	goneIn int64
	// wholeIn and wholeOut are the upstream's counts of the whole stream.
	wholeIn, wholeOut int64
}

// chargeCases are the charge tests' streams, passed through and translated, with the prompt
// and the text their head relays.
func chargeCases() (cases []chargeCase, prompt, text string) {
	prompt = strings.Repeat("tell me a story ", 25) // 400 bytes: about 100 tokens
	chatBody := `{"model":"m","stream":true,"messages":[{"role":"user","content":"` + prompt + `"}]}`
	messagesBody := `{"model":"m","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"` + prompt + `"}]}`
	// Ten pieces of 20 bytes: 200 bytes of text, about 50 tokens; the last one marks the cut.
	var pieces []string
	for range 9 {
		pieces = append(pieces, "once upon a time, a ")
	}
	pieces = append(pieces, "the end of part one.")
	text = strings.Join(pieces, "")

	openaiHead := []string{roleChunkEv("")}
	for _, p := range pieces {
		openaiHead = append(openaiHead, chunkEv(p))
	}
	openaiTail := []string{stopEv, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[],"usage":{"prompt_tokens":97,"completion_tokens":51,"total_tokens":148}}` + "\n\n", doneEv}
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	anthropicHead := []string{
		ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":321,"output_tokens":1}}}`),
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		ev("ping", `{"type": "ping"}`),
	}
	for _, p := range pieces {
		anthropicHead = append(anthropicHead, ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`+p+`"}}`))
	}
	anthropicTail := []string{
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":55}}`),
		ev("message_stop", `{"type":"message_stop"}`),
	}

	return []chargeCase{
		{"openai passed through", "openai", "/v1/chat/completions", chatBody, openaiHead, openaiTail, 0, 97, 51},
		{"anthropic passed through", "anthropic", "/v1/messages", messagesBody, anthropicHead, anthropicTail, 321, 321, 55},
		{"anthropic to openai", "anthropic", "/v1/chat/completions", chatBody, anthropicHead, anthropicTail, 321, 321, 55},
		{"openai to anthropic", "openai", "/v1/messages", messagesBody, openaiHead, openaiTail, 0, 97, 51},
	}, prompt, text
}

// A client that leaves mid-stream leaves before the usage, which comes at the end, yet the
// provider bills what it generated: the request is charged what the upstream reported so far
// (an Anthropic stream's input tokens), and estimates of the rest, the input from the request
// and the output from the text relayed; a whole stream is charged the upstream's own counts.
func TestStreamClientGoneIsCharged(t *testing.T) {
	cases, prompt, text := chargeCases()
	last := text[len(text)-20:] // the last piece of the head
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			whole := make(chan bool, 1)
			up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				if <-whole {
					sseReply(append(tc.head[:len(tc.head):len(tc.head)], tc.tail...)...)(w, r)
					return
				}
				sseReply(tc.head...)(w, r)
				<-r.Context().Done() // the upstream would go on generating: the client leaves first
			})
			// A provider name of its own, so the metrics read are this case's alone.
			name := "gone-" + strings.ReplaceAll(tc.name, " ", "-")
			pc := provider(name, up.URL+"/v1", []string{"sk-upstream-key-0001"}, "m", "m-up")
			pc.API = tc.api
			tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pc}})
			rs := serveRouter(t, tr)

			// The client reads the stream up to the last piece of text, and leaves.
			before := tokenCounters(t, name)
			whole <- false
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp := rs.postTo(t, ctx, tc.path, tc.body)
			br := bufio.NewReader(resp.Body)
			var got strings.Builder
			for !strings.Contains(got.String(), last) {
				ev, err := readEvent(br)
				got.WriteString(ev)
				if err != nil {
					t.Fatalf("stream ended before its last piece (%v): %q", err, got.String())
				}
			}
			cancel()
			_ = resp.Body.Close()
			in, out := requestTokens(t, tr, 1, name, before, "client_gone")
			wantOut := int64(len(text)) / 4
			if out < wantOut*4/5 || out > wantOut*6/5 {
				t.Errorf("client gone: tokens_out %d, want about %d (the text relayed at 4 bytes a token)", out, wantOut)
			}
			if tc.goneIn != 0 && in != tc.goneIn {
				t.Errorf("client gone: tokens_in %d, want %d, as the upstream reported them", in, tc.goneIn)
			}
			if wantIn := int64(len(prompt)) / 4; tc.goneIn == 0 && (in < wantIn*4/5 || in > wantIn*6/5) {
				t.Errorf("client gone: tokens_in %d, want about %d (the request at 4 bytes a token)", in, wantIn)
			}

			// The whole stream is charged exactly what the upstream reported.
			before = tokenCounters(t, name)
			whole <- true
			ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp = rs.postTo(t, ctx, tc.path, tc.body)
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if in, out := requestTokens(t, tr, 2, name, before, "success"); in != tc.wholeIn || out != tc.wholeOut {
				t.Errorf("whole stream: tokens %d in, %d out; want the upstream's %d, %d", in, out, tc.wholeIn, tc.wholeOut)
			}
		})
	}
}

// requestTokens waits for the log line of tr's nth request, checks its outcome and that
// tokens_total{provider} moved by its counts since before, and returns them.
func requestTokens(t *testing.T, tr *testRouter, n int, provider string, before [2]float64, outcome string) (in, out int64) {
	t.Helper()
	var lines []string
	pollUntil(t, "the request's log line", func() bool {
		lines = lines[:0]
		for _, l := range strings.Split(tr.logs.String(), "\n") {
			if strings.Contains(l, `"msg":"llm request"`) {
				lines = append(lines, l)
			}
		}
		return len(lines) >= n
	})
	var line struct {
		Outcome   string `json:"outcome"`
		TokensIn  int64  `json:"tokens_in"`
		TokensOut int64  `json:"tokens_out"`
	}
	if err := json.Unmarshal([]byte(lines[n-1]), &line); err != nil {
		t.Fatalf("%v: %s", err, lines[n-1])
	}
	if line.Outcome != outcome {
		t.Errorf("outcome %q, want %q", line.Outcome, outcome)
	}
	if after := tokenCounters(t, provider); after[0]-before[0] != float64(line.TokensIn) || after[1]-before[1] != float64(line.TokensOut) {
		t.Errorf("tokens_total moved by %v in, %v out; the log line says %d, %d",
			after[0]-before[0], after[1]-before[1], line.TokensIn, line.TokensOut)
	}
	return line.TokensIn, line.TokensOut
}

// tokenCounters reads tokens_total{model="m",provider} for input and output.
func tokenCounters(t *testing.T, provider string) [2]float64 {
	t.Helper()
	return [2]float64{counterValue(t, tokensTotal.WithLabelValues("m", provider, "input")),
		counterValue(t, tokensTotal.WithLabelValues("m", provider, "output"))}
}

// textEstimate scans only a sample of a long stream's writes, yet its estimate stays near the
// text a scan of every write counts: the prelude without text, a first write that carries a
// translated prelude with its first text, deltas of varying length, and a tail without text.
func TestTextEstimateOfALongStream(t *testing.T) {
	var writes [][]byte
	writes = append(writes, []byte(`data: {"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`+"\n\n"))
	for i := range 300 {
		piece := strings.Repeat("x", 3+i%11)
		writes = append(writes, []byte(`data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"`+piece+`"}}]}`+"\n\n"))
	}
	writes = append(writes, []byte(`data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n"), []byte("data: [DONE]\n\n"))
	var e textEstimate
	exact, total := 0, 0
	for _, w := range writes {
		e.see(sse.OpenAI, w)
		exact += sse.TextBytes(sse.OpenAI, w)
		total += len(w)
	}
	if got := e.estimate(); got < exact*9/10 || got > exact*11/10 {
		t.Errorf("estimate %d text bytes, a scan of every write counts %d", got, exact)
	}
	if e.sampled > total/8 {
		t.Errorf("%d of the stream's %d bytes scanned: not a sample", e.sampled, total)
	}
}

// An upstream that breaks its stream after the client has most of the answer (a cut, or an
// error event mid-stream) has generated, and bills, what the client got: the request is
// charged as one whose client left, not only the usage reported before the break (none, or an
// Anthropic stream's input tokens), which would give such answers away for free.
func TestStreamBrokenUpstreamIsCharged(t *testing.T) {
	cases, prompt, text := chargeCases()
	for _, tc := range cases {
		errorEvent := `data: {"error":{"message":"upstream overloaded","type":"server_error"}}` + "\n\n"
		if tc.api == "anthropic" {
			errorEvent = "event: error\n" + `data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` + "\n\n"
		}
		for _, mode := range []struct {
			name  string
			reply http.HandlerFunc
		}{
			{"cut", cutAfter(strings.Join(tc.head, ""), `data: {"`)},
			{"error event", sseReply(append(tc.head[:len(tc.head):len(tc.head)], errorEvent)...)},
		} {
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				up := newFakeUpstream(t, mode.reply)
				name := "broken-" + strings.ReplaceAll(tc.name+"-"+mode.name, " ", "-")
				pc := provider(name, up.URL+"/v1", []string{"sk-upstream-key-0001"}, "m", "m-up")
				pc.API = tc.api
				tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pc}})
				rs := serveRouter(t, tr)

				before := tokenCounters(t, name)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				resp := rs.postTo(t, ctx, tc.path, tc.body)
				got, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if err != nil || !strings.Contains(string(got), text[len(text)-20:]) || !strings.Contains(string(got), `"error"`) {
					t.Fatalf("want the whole head and an error event (%v): %q", err, got)
				}
				in, out := requestTokens(t, tr, 1, name, before, "failed")
				if wantOut := int64(len(text)) / 4; out < wantOut*4/5 || out > wantOut*6/5 {
					t.Errorf("tokens_out %d, want about %d (the text relayed at 4 bytes a token)", out, wantOut)
				}
				if tc.goneIn != 0 && in != tc.goneIn {
					t.Errorf("tokens_in %d, want %d, as the upstream reported them", in, tc.goneIn)
				}
				if wantIn := int64(len(prompt)) / 4; tc.goneIn == 0 && (in < wantIn*4/5 || in > wantIn*6/5) {
					t.Errorf("tokens_in %d, want about %d (the request at 4 bytes a token)", in, wantIn)
				}
			})
		}
	}
}

// A stream resumed on another target is charged both parts: the broken one as a stream its
// upstream broke (the estimate of what it relayed), and the continuation what it reported,
// or, when it too ends before its usage (its client leaves, its upstream breaks), the
// estimate of its prompt (the request and the answer replayed) and of the text it relayed.
func TestResumedStreamIsCharged(t *testing.T) {
	cases, prompt, text := chargeCases()
	chat := cases[0]
	var more []string // the continuation's text: ten other pieces of 20 bytes
	for range 10 {
		more = append(more, chunkEv("and then the dragon"))
	}
	contText := strings.Repeat("and then the dragon", 10)
	// The broken stream's prompt, and the continuation's: the request and the text replayed.
	firstIn, contIn := int64(len(prompt))/4, int64(len(prompt)+len(text))/4
	broken := func(w http.ResponseWriter, r *http.Request) { cutAfter(strings.Join(chat.head, ""), `data: {"`)(w, r) }
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }

	for _, tc := range []struct {
		name, api2, outcome string
		cont                http.HandlerFunc
		// leaves: the client leaves once it has the continuation's last piece.
		leaves bool
		// reported is what the continuation reported; zero: the estimate is wanted.
		reportedIn, reportedOut int64
		// unsent: the continuation failed before the client got any of it.
		unsent bool
	}{
		{name: "client leaves in the continuation", outcome: "client_gone", leaves: true,
			cont: stallAfter(append([]string{roleChunkEv("")}, more...)...)},
		{name: "continuation cut", outcome: "failed",
			cont: cutAfter(roleChunkEv("")+strings.Join(more, ""), `data: {"`)},
		{name: "continuation fails before its first event", outcome: "failed", unsent: true, cont: sseReply()},
		{name: "continuation translated, no usage chunk asked", api2: "anthropic", outcome: "success", reportedIn: 400, reportedOut: 60,
			cont: sseReply(
				ev("message_start", `{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"m-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":400,"output_tokens":1}}}`),
				ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
				ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`+contText+`"}}`),
				ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
				ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":60}}`),
				ev("message_stop", `{"type":"message_stop"}`))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p1, p2 := newFakeUpstream(t, broken), newFakeUpstream(t, tc.cont)
			cont := catalog.ContinuePrefix
			if tc.api2 == "anthropic" {
				cont = ""
			}
			tr, rs := resumeRouter(t, "", tc.api2, cont, p1, p2, func(h *Handler) {
				h.StreamIdleTimeout = caddy.Duration(time.Minute) // a cut is no stall
			})
			before := tokenCounters(t, "p1")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp := rs.postTo(t, ctx, chat.path, chat.body)
			br := bufio.NewReader(resp.Body)
			var got strings.Builder
			for {
				ev, err := readEvent(br)
				got.WriteString(ev)
				if err != nil || tc.leaves && strings.Count(got.String(), "and then the dragon") == 10 {
					break
				}
			}
			cancel()
			_ = resp.Body.Close()
			dragons := 10
			if tc.unsent {
				dragons = 0
			}
			if !strings.Contains(got.String(), text[len(text)-20:]) || strings.Count(got.String(), "dragon") != dragons {
				t.Fatalf("the client did not get both parts: %q", got.String())
			}
			// Tokens are recorded under the provider that began the stream.
			in, out := requestTokens(t, tr, 1, "p1", before, tc.outcome)
			wantIn, wantOut := firstIn+contIn, int64(len(text)+len(contText))/4
			switch {
			case tc.reportedIn != 0:
				wantIn, wantOut = firstIn+tc.reportedIn, int64(len(text))/4+tc.reportedOut
			case tc.unsent: // as a failed first attempt, it is charged what it reported: nothing
				wantIn, wantOut = firstIn, int64(len(text))/4
			}
			if in < wantIn*9/10 || in > wantIn*11/10 || out < wantOut*9/10 || out > wantOut*11/10 {
				t.Errorf("tokens %d in, %d out; want about %d, %d (both parts)", in, out, wantIn, wantOut)
			}
		})
	}
}

// A stream that ends after the upstream's final usage but before its terminator (the usage
// chunk then a cut before [DONE]; Anthropic's message_delta, then no message_stop), or whose
// client leaves there, is charged the upstream's counts, which are whole, not the estimate
// (here more than the count), and once.
func TestStreamEndedAfterItsUsageIsChargedIt(t *testing.T) {
	cases, _, _ := chargeCases()
	const out = 30 // fewer than the 50 the text estimate gives
	for _, tc := range cases {
		tail := []string{stopEv, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[],"usage":{"prompt_tokens":97,"completion_tokens":30,"total_tokens":127}}` + "\n\n"}
		if tc.api == "anthropic" {
			tail = []string{tc.tail[0], "event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":30}}` + "\n\n"}
		}
		stream := append(tc.head[:len(tc.head):len(tc.head)], tail...)
		modes := []string{"cut"}
		if tc.name == "openai passed through" || tc.name == "anthropic passed through" {
			// The client sees the usage itself, so it leaves after the router read it.
			modes = append(modes, "client leaves")
		}
		for _, mode := range modes {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				reply := cutAfter(strings.Join(stream, ""), `data: {"`)
				if mode == "client leaves" {
					reply = stallAfter(stream...)
				}
				up := newFakeUpstream(t, reply)
				name := "usage-then-" + strings.ReplaceAll(tc.name+"-"+mode, " ", "-")
				pc := provider(name, up.URL+"/v1", []string{"sk-upstream-key-0001"}, "m", "m-up")
				pc.API = tc.api
				tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pc}})
				rs := serveRouter(t, tr)

				before := tokenCounters(t, name)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				resp := rs.postTo(t, ctx, tc.path, tc.body)
				br := bufio.NewReader(resp.Body)
				for {
					ev, err := readEvent(br)
					if err != nil || mode == "client leaves" && strings.Contains(ev, `"usage"`) && !strings.Contains(ev, "message_start") {
						break
					}
				}
				cancel()
				_ = resp.Body.Close()
				outcome := "failed"
				if mode == "client leaves" {
					outcome = "client_gone"
				}
				if in, got := requestTokens(t, tr, 1, name, before, outcome); in != tc.wholeIn || got != out {
					t.Errorf("tokens %d in, %d out; want the upstream's %d, %d", in, got, tc.wholeIn, out)
				}
			})
		}
	}
}
