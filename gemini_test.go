package llmrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
	"google.golang.org/genai"

	"github.com/llmrouter/caddy-llm-router/dialect/gemini"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// geminiAgentUpstream is openAIAgentUpstream as the Gemini API answers it: a request with
// tools and no function response gets a get_weather call (with a thought signature that the
// follow-up must bring back), one with a function response gets the weather. Streams come as
// alt=sse chunks, the finish reason in a chunk of its own, as Gemini sends it after a call.
func geminiAgentUpstream(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if strings.HasSuffix(r.URL.Path, ":countTokens") {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"totalTokens":9}`)
		return
	}
	var req struct {
		Contents []struct {
			Role  string `json:"role"`
			Parts []struct {
				FunctionCall *struct {
					Name string `json:"name"`
				} `json:"functionCall"`
				ThoughtSignature string `json:"thoughtSignature"`
				FunctionResponse *struct {
					Name     string         `json:"name"`
					Response map[string]any `json:"response"`
				} `json:"functionResponse"`
			} `json:"parts"`
		} `json:"contents"`
		Tools []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Contents) == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}`)
		return
	}
	result, signed := "", false
	for _, c := range req.Contents {
		for _, p := range c.Parts {
			// Gemini takes its own signature back, or the documented dummy for calls made elsewhere.
			if p.FunctionCall != nil && (p.ThoughtSignature == "c2lnLTE=" || p.ThoughtSignature == gemini.DummySignature) {
				signed = true
			}
			if p.FunctionResponse != nil {
				for k, v := range p.FunctionResponse.Response {
					if k != "name" { // the AI SDK repeats the function's name beside its content
						result, _ = v.(string)
					}
				}
			}
		}
	}
	if result != "" && !signed {
		// Gemini 3 refuses a function call replayed without its thought signature.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"code":400,"message":"Function call is missing a thought_signature in functionCall parts.","status":"INVALID_ARGUMENT"}}`)
		return
	}
	const call = `{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnLTE="}`
	stream := strings.Contains(r.URL.Path, ":streamGenerateContent")
	var chunks []string
	switch {
	case len(req.Tools) > 0 && result == "":
		usage := `"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":7,"totalTokenCount":27}`
		chunks = []string{`{"candidates":[{"content":{"role":"model","parts":[` + call + `]},"index":0}],` + usage + `,"modelVersion":"gem-up","responseId":"r1"}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0}],` + usage + `,"modelVersion":"gem-up","responseId":"r1"}`}
		if !stream {
			chunks = []string{`{"candidates":[{"content":{"role":"model","parts":[` + call + `]},"finishReason":"STOP","index":0}],` + usage + `,"modelVersion":"gem-up","responseId":"r1"}`}
		}
	default:
		text := "Hello world"
		usage := `"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,"totalTokenCount":8}`
		if result != "" {
			text = "It is " + result + " in Paris."
			usage = `"usageMetadata":{"promptTokenCount":30,"candidatesTokenCount":6,"totalTokenCount":36}`
		}
		if !stream {
			chunks = []string{`{"candidates":[{"content":{"role":"model","parts":[{"text":"` + text + `"}]},"finishReason":"STOP","index":0}],` + usage + `,"modelVersion":"gem-up","responseId":"r2"}`}
			break
		}
		half := len(text) / 2
		chunks = []string{`{"candidates":[{"content":{"role":"model","parts":[{"text":"` + text[:half] + `"}]},"index":0}],"modelVersion":"gem-up","responseId":"r2"}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"` + text[half:] + `"}]},"finishReason":"STOP","index":0}],` + usage + `,"modelVersion":"gem-up","responseId":"r2"}`}
	}
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, chunks[0])
		return
	}
	evs := make([]string, len(chunks))
	for i, c := range chunks {
		evs[i] = "data: " + c + "\r\n\r\n"
	}
	sseReply(evs...)(w, r)
}

// newGeminiRouter serves model m from one provider of the given API, its base URL as that API
// has it (Gemini's under /v1beta).
func newGeminiRouter(t *testing.T, api string, reply http.HandlerFunc) (*fakeUpstream, *testRouter, *routerServer) {
	t.Helper()
	up := newFakeUpstream(t, reply)
	base := up.URL + "/v1"
	if api == "gemini" {
		base = up.URL + "/v1beta"
	}
	pc := provider("p1", base, []string{"sk-upstream-key-0001"}, "m", "m-up")
	pc.API = api
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pc}})
	return up, tr, serveRouter(t, tr)
}

// TestOpenAISDKThroughGeminiUpstream: openai-go reaches a Gemini provider, whole and
// streamed, through a tool round whose follow-up carries the call's thought signature back
// (the fake refuses it otherwise, as Gemini 3 does), with an image in the first turn.
func TestOpenAISDKThroughGeminiUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "whole", true: "streamed"}[stream], func(t *testing.T) {
			up, _, rs := newGeminiRouter(t, "gemini", geminiAgentUpstream)
			c := sdkClient(rs)
			params := openai.ChatCompletionNewParams{
				Model: "m",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."),
					openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
						openai.TextContentPart("Weather in this city?"),
						openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo="}),
					})},
				Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
					Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
				})},
			}
			send := func() (openai.ChatCompletionMessage, string) {
				t.Helper()
				if !stream {
					res, err := c.Chat.Completions.New(context.Background(), params)
					if err != nil {
						t.Fatalf("SDK error: %v", err)
					}
					return res.Choices[0].Message, string(res.Choices[0].FinishReason)
				}
				params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				st := c.Chat.Completions.NewStreaming(context.Background(), params)
				defer st.Close()
				var acc openai.ChatCompletionAccumulator
				finishes := 0
				for st.Next() {
					acc.AddChunk(st.Current())
					for _, ch := range st.Current().Choices {
						if ch.FinishReason != "" {
							finishes++
						}
					}
				}
				if err := st.Err(); err != nil {
					t.Fatalf("SDK stream error: %v", err)
				}
				if len(acc.Choices) != 1 || acc.Usage.CompletionTokens == 0 || finishes != 1 {
					t.Fatalf("accumulated %+v with %d finish reasons", acc.ChatCompletion, finishes)
				}
				return acc.Choices[0].Message, string(acc.Choices[0].FinishReason)
			}
			msg, finish := send()
			if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "get_weather" || msg.ToolCalls[0].ID == "" || finish != "tool_calls" {
				t.Fatalf("first turn: %+v (finish %q)", msg, finish)
			}
			var args struct{ City string }
			if err := json.Unmarshal([]byte(msg.ToolCalls[0].Function.Arguments), &args); err != nil || args.City != "Paris" {
				t.Fatalf("arguments %q (%v)", msg.ToolCalls[0].Function.Arguments, err)
			}
			params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("18C", msg.ToolCalls[0].ID))
			msg, finish = send()
			if msg.Content != "It is 18C in Paris." || finish != "stop" {
				t.Fatalf("second turn: %+v (finish %q)", msg, finish)
			}
			got := up.received()
			wantPath := "/v1beta/models/m-up:generateContent"
			if stream {
				wantPath = "/v1beta/models/m-up:streamGenerateContent"
			}
			for i, r := range got {
				if r.Path != wantPath || r.Header.Get("X-Goog-Api-Key") != "sk-upstream-key-0001" || r.Header.Get("Authorization") != "" {
					t.Errorf("request %d to %s, key header %q", i, r.Path, r.Header.Get("X-Goog-Api-Key"))
				}
				var top map[string]json.RawMessage
				if err := json.Unmarshal(r.Body, &top); err != nil || top["model"] != nil || top["stream"] != nil {
					t.Errorf("request %d: the Gemini body names a model or stream: %s", i, r.Body)
				}
			}
			var first struct {
				SystemInstruction struct{ Parts []struct{ Text string } } `json:"systemInstruction"`
				Contents          []struct {
					Role  string
					Parts []struct {
						InlineData *struct{ MimeType, Data string } `json:"inlineData"`
					}
				}
			}
			if err := json.Unmarshal(got[0].Body, &first); err != nil || len(first.SystemInstruction.Parts) != 1 ||
				first.SystemInstruction.Parts[0].Text != "Be brief." || len(first.Contents) != 1 || first.Contents[0].Role != "user" ||
				len(first.Contents[0].Parts) != 2 || first.Contents[0].Parts[1].InlineData == nil ||
				first.Contents[0].Parts[1].InlineData.MimeType != "image/png" || first.Contents[0].Parts[1].InlineData.Data != "iVBORw0KGgo=" {
				t.Errorf("first request body: %s", got[0].Body)
			}
		})
	}
}

// geminiClient is Google's Go SDK pointed at the router, with a gateway key as its API key.
func geminiClient(t *testing.T, rs *routerServer) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: "gateway-key", Backend: genai.BackendGeminiAPI,
		HTTPClient: rs.Client(), HTTPOptions: genai.HTTPOptions{BaseURL: rs.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var geminiWeatherTool = &genai.Tool{FunctionDeclarations: []*genai.FunctionDeclaration{{
	Name: "get_weather", Description: "The weather in a city",
	Parameters: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{"city": {Type: genai.TypeString}}},
}}}

// TestGeminiSDK drives the router with Google's Go SDK (google.golang.org/genai) through a
// function call round, whole and streamed, against a Gemini provider (passthrough), an
// OpenAI one and an Anthropic one (translated).
func TestGeminiSDK(t *testing.T) {
	for _, kind := range []struct {
		api   string
		reply http.HandlerFunc
	}{{"gemini", geminiAgentUpstream}, {"openai", openAIAgentUpstream}, {"anthropic", anthropicAgentUpstream}} {
		for _, stream := range []bool{false, true} {
			t.Run(kind.api+map[bool]string{false: " whole", true: " streamed"}[stream], func(t *testing.T) {
				up, _, rs := newGeminiRouter(t, kind.api, kind.reply)
				// The Anthropic fake's stream reports 20 input tokens on both turns.
				wantPrompt := int32(30)
				if kind.api == "anthropic" && stream {
					wantPrompt = 20
				}
				geminiToolRound(t, geminiClient(t, rs), stream, wantPrompt)
				if n := len(up.received()); n != 2 {
					t.Fatalf("upstream got %d requests, want 2", n)
				}
				r := up.received()[1]
				switch kind.api {
				case "gemini":
					if !strings.HasPrefix(r.Path, "/v1beta/models/m-up:") || r.Header.Get("X-Goog-Api-Key") != "sk-upstream-key-0001" {
						t.Errorf("passthrough went to %s with key %q", r.Path, r.Header.Get("X-Goog-Api-Key"))
					}
				case "openai":
					if r.Path != "/v1/chat/completions" || hfModelOf(t, r) != "m-up" || r.Header.Get("X-Goog-Api-Key") != "" {
						t.Errorf("translated request to %s for %q", r.Path, hfModelOf(t, r))
					}
				case "anthropic":
					if r.Path != "/v1/messages" || hfModelOf(t, r) != "m-up" {
						t.Errorf("translated request to %s for %q", r.Path, hfModelOf(t, r))
					}
				}
			})
		}
	}
}

// geminiToolRound drives one function call round through the router with Google's Go SDK,
// whole or streamed: the model calls get_weather, the client answers, the model says the
// result. wantPrompt is the second turn's prompt token count.
func geminiToolRound(t *testing.T, c *genai.Client, stream bool, wantPrompt int32) {
	t.Helper()
	cfg := &genai.GenerateContentConfig{Tools: []*genai.Tool{geminiWeatherTool},
		SystemInstruction: genai.NewContentFromText("Be brief.", genai.RoleUser)}
	contents := []*genai.Content{genai.NewContentFromText("Weather in Paris?", genai.RoleUser)}
	send := func() *genai.GenerateContentResponse {
		t.Helper()
		if !stream {
			res, err := c.Models.GenerateContent(context.Background(), "m", contents, cfg)
			if err != nil {
				t.Fatalf("SDK error: %v", err)
			}
			return res
		}
		// Assemble the stream as a client would: parts in order, the last usage.
		out := &genai.GenerateContentResponse{Candidates: []*genai.Candidate{{Content: &genai.Content{Role: genai.RoleModel}}}}
		chunks := 0
		for res, err := range c.Models.GenerateContentStream(context.Background(), "m", contents, cfg) {
			if err != nil {
				t.Fatalf("SDK stream error: %v", err)
			}
			chunks++
			if len(res.Candidates) > 0 {
				cand := res.Candidates[0]
				if cand.Content != nil {
					out.Candidates[0].Content.Parts = append(out.Candidates[0].Content.Parts, cand.Content.Parts...)
				}
				if cand.FinishReason != "" {
					out.Candidates[0].FinishReason = cand.FinishReason
				}
			}
			if res.UsageMetadata != nil {
				out.UsageMetadata = res.UsageMetadata
			}
		}
		if chunks == 0 {
			t.Fatal("the stream yielded nothing")
		}
		return out
	}
	res := send()
	calls := res.FunctionCalls()
	if len(calls) != 1 || calls[0].Name != "get_weather" || calls[0].Args["city"] != "Paris" ||
		res.Candidates[0].FinishReason != genai.FinishReasonStop || res.UsageMetadata == nil || res.UsageMetadata.CandidatesTokenCount != 7 {
		t.Fatalf("first turn: calls %+v, candidate %+v, usage %+v", calls, res.Candidates[0], res.UsageMetadata)
	}
	contents = append(contents, res.Candidates[0].Content,
		genai.NewContentFromFunctionResponse("get_weather", map[string]any{"result": "18C"}, genai.RoleUser))
	res = send()
	if res.Text() != "It is 18C in Paris." || res.UsageMetadata == nil || res.UsageMetadata.PromptTokenCount != wantPrompt ||
		res.UsageMetadata.CandidatesTokenCount != 6 {
		t.Fatalf("second turn: %q usage %+v", res.Text(), res.UsageMetadata)
	}
}

// TestNodeGenAI drives the router with Google's @google/genai npm package through a function
// call round, whole and streamed, to a Gemini provider and to an OpenAI-compatible one, with
// countTokens, the model list and an unknown model; the tool's schema reaches the OpenAI one
// as JSON Schema.
func TestNodeGenAI(t *testing.T) {
	node := nodeReady(t)
	for _, kind := range []struct {
		api   string
		reply http.HandlerFunc
	}{{"gemini", geminiAgentUpstream}, {"openai", openAIAgentUpstream}} {
		t.Run(kind.api, func(t *testing.T) {
			up, _, rs := newGeminiRouter(t, kind.api, kind.reply)
			stdout, stderr := runNodeScript(t, node, "genai.mjs", rs.URL)
			type turn struct {
				Text, Finish, Error string
				Calls               []struct {
					Name string
					Args map[string]string
				}
				Usage *struct{ PromptTokenCount, CandidatesTokenCount int }
			}
			type round struct {
				First, Second turn
				Error         string
			}
			var out struct {
				Whole, Stream round
				Count         struct {
					Total int
					Error string
				}
				List    struct{ Names []string }
				Unknown struct{ Error string }
			}
			if err := json.Unmarshal(stdout, &out); err != nil {
				t.Fatalf("script output is not JSON: %v\n%s\nstderr: %s", err, stdout, stderr)
			}
			for name, r := range map[string]round{"whole": out.Whole, "stream": out.Stream} {
				if r.Error != "" {
					t.Errorf("%s: client error %q", name, r.Error)
					continue
				}
				if f := r.First; len(f.Calls) != 1 || f.Calls[0].Name != "get_weather" || f.Calls[0].Args["city"] != "Paris" ||
					f.Finish != "STOP" || f.Usage == nil || f.Usage.CandidatesTokenCount != 7 {
					t.Errorf("%s: first turn %+v", name, f)
				}
				if s := r.Second; s.Text != "It is 18C in Paris." || s.Finish != "STOP" || s.Usage == nil || s.Usage.PromptTokenCount != 30 {
					t.Errorf("%s: second turn %+v", name, s)
				}
			}
			if kind.api == "gemini" && out.Count.Total != 9 || kind.api == "openai" && out.Count.Total <= 0 {
				t.Errorf("countTokens (forwarded to Gemini, else estimated): %+v", out.Count)
			}
			if len(out.List.Names) != 1 || out.List.Names[0] != "models/m" {
				t.Errorf("model list: %+v", out.List)
			}
			if !strings.Contains(out.Unknown.Error, "nope") || !strings.Contains(out.Unknown.Error, "404") {
				t.Errorf("unknown model: %+v", out.Unknown)
			}
			if kind.api != "openai" {
				return
			}
			// The SDK's "minLength": "1" reaches the OpenAI upstream as JSON Schema's integer.
			for i, r := range up.received() {
				var body struct {
					Tools []struct {
						Function struct {
							Parameters struct {
								Properties struct{ City map[string]any }
							}
						}
					}
				}
				if err := json.Unmarshal(r.Body, &body); err != nil || len(body.Tools) != 1 ||
					body.Tools[0].Function.Parameters.Properties.City["minLength"] != float64(1) {
					t.Errorf("request %d: tools %s", i, r.Body)
				}
			}
		})
	}
}

// TestGeminiSignaturesInMixedPools: in a pool of a Gemini and an OpenAI provider, the tool
// call ids a client gets stay short (OpenAI refuses ids over 40 bytes, and a thought signature
// is hundreds), and the replayed call reaches Gemini with the dummy signature it accepts. A
// Gemini-only pool keeps the signature in the id and gives it back.
func TestGeminiSignaturesInMixedPools(t *testing.T) {
	gem := newFakeUpstream(t, geminiAgentUpstream)
	oai := newFakeUpstream(t, okChat)
	pg := provider("gem", gem.URL+"/v1beta", []string{"sk-gem-upstream-01"}, "m", "m-up")
	pg.API = "gemini"
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
		pg, provider("oai", oai.URL+"/v1", []string{"sk-oai-upstream-01"}, "m", "gpt-up"),
	}})
	c := sdkClient(serveRouter(t, tr))
	params := openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather"})}}
	res, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil || len(res.Choices[0].Message.ToolCalls) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
	id := res.Choices[0].Message.ToolCalls[0].ID
	if len(id) > 40 || strings.Contains(id, gemini.SignatureMarker) {
		t.Errorf("tool call id %q: longer than OpenAI takes, or carrying the signature", id)
	}
	params.Messages = append(params.Messages, res.Choices[0].Message.ToParam(), openai.ToolMessage("18C", id))
	if _, err := c.Chat.Completions.New(context.Background(), params); err != nil {
		t.Fatal(err)
	}
	if got := gem.received(); len(got) != 2 || !strings.Contains(string(got[1].Body), `"thoughtSignature":"`+gemini.DummySignature+`"`) {
		t.Errorf("the replayed call's signature: %d requests", len(got))
	}
}

// TestGeminiBodyFitsEachTarget: a Gemini body is translated once per model it depends on, not
// once per call. reasoning_effort none reaches Gemini 2.5 Flash as a budget of 0 and 2.5 Pro,
// which refuses 0, as its smallest budget; and maxOutputTokens is capped at each model's
// max_output. The pool fails over from one to the other.
func TestGeminiBodyFitsEachTarget(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body := readBody(r)
		mu.Lock()
		got[r.URL.Path] = body
		mu.Unlock()
		if strings.Contains(r.URL.Path, "flash") {
			status(http.StatusServiceUnavailable)(w, r)
			return
		}
		if strings.Contains(body, `"thinkingBudget":0`) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"code":400,"message":"Budget 0 is invalid. This model only works in thinking mode.","status":"INVALID_ARGUMENT"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP","index":0}],"modelVersion":"gemini-2.5-pro"}`)
	})
	pc := provider("g", up.URL+"/v1beta", []string{"sk-upstream-key-0001"}, "flash", "gemini-2.5-flash", "pro", "gemini-2.5-pro")
	pc.API = "gemini"
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{pc},
		Models:  []catalog.ModelInfo{{Name: "flash", MaxOutput: 8192}, {Name: "pro", MaxOutput: 65536}},
		Aliases: []catalog.AliasConfig{{Name: "m", Targets: []string{"flash", "pro"}}}})
	rec := tr.chat(`{"model":"m","reasoning_effort":"none","max_tokens":32000,"messages":[{"role":"user","content":"hi"}]}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	for path, want := range map[string][]string{
		"/v1beta/models/gemini-2.5-flash:generateContent": {`"thinkingBudget":0`, `"maxOutputTokens":8192`},
		"/v1beta/models/gemini-2.5-pro:generateContent":   {`"thinkingBudget":128`, `"maxOutputTokens":32000`},
	} {
		for _, w := range want {
			if !strings.Contains(got[path], w) {
				t.Errorf("%s got %s, want %s in it", path, got[path], w)
			}
		}
	}
	if strings.Contains(got["/v1beta/models/gemini-2.5-pro:generateContent"], "includeThoughts") {
		t.Error("thoughts were asked for with reasoning_effort none")
	}
}

// TestGeminiClientReplaysCallsMadeElsewhere: a Gemini client whose function call came from
// an OpenAI provider of its pool replays it without a thought signature (none was made); when
// that turn fails over to the pool's Gemini provider, the call reaches it with the dummy
// signature Gemini 3 accepts instead of being refused. A replay with its own signature, or to
// a Gemini-only pool, goes as the client sent it.
func TestGeminiClientReplaysCallsMadeElsewhere(t *testing.T) {
	gem := newFakeUpstream(t, geminiAgentUpstream)
	var oaiCalls atomic.Int32
	oai := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if oaiCalls.Add(1) > 1 {
			status(http.StatusServiceUnavailable)(w, r)
			return
		}
		openAIAgentUpstream(w, r)
	})
	pg := provider("gem", gem.URL+"/v1beta", []string{"sk-gem-upstream-01"}, "m", "m-up")
	pg.API = "gemini"
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
		provider("oai", oai.URL+"/v1", []string{"sk-oai-upstream-01"}, "m", "gpt-up"), pg,
	}})
	c := geminiClient(t, serveRouter(t, tr))
	cfg := &genai.GenerateContentConfig{Tools: []*genai.Tool{geminiWeatherTool}}
	contents := []*genai.Content{genai.NewContentFromText("Weather in Paris?", genai.RoleUser)}
	res, err := c.Models.GenerateContent(context.Background(), "m", contents, cfg)
	if err != nil || len(res.FunctionCalls()) != 1 {
		t.Fatalf("first turn (OpenAI): %v %+v", err, res)
	}
	contents = append(contents, res.Candidates[0].Content,
		genai.NewContentFromFunctionResponse("get_weather", map[string]any{"result": "18C"}, genai.RoleUser))
	res, err = c.Models.GenerateContent(context.Background(), "m", contents, cfg)
	if err != nil || res.Text() != "It is 18C in Paris." {
		t.Fatalf("second turn (failed over to Gemini): %v %+v", err, res)
	}
	got := gem.received()
	if len(got) != 1 || !strings.Contains(string(got[0].Body), `"thoughtSignature":"`+gemini.DummySignature+`"`) {
		t.Fatalf("the replayed call reached Gemini as %s", got[0].Body)
	}
	var sent struct{ Contents []json.RawMessage }
	if err := json.Unmarshal(got[0].Body, &sent); err != nil || len(sent.Contents) != 3 {
		t.Fatalf("the body Gemini got: %v %s", err, got[0].Body)
	}
}

// TestGeminiCandidatesFromOpenAI: a Gemini client's candidateCount is OpenAI's n, and every
// choice the OpenAI upstream answers is one of the client's candidates, in index order.
func TestGeminiCandidatesFromOpenAI(t *testing.T) {
	up, _, rs := newGeminiRouter(t, "openai", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","model":"m-up","choices":[`+
			`{"index":1,"message":{"role":"assistant","content":"Two"},"finish_reason":"length"},`+
			`{"index":0,"message":{"role":"assistant","content":"One"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`)
	})
	res, err := geminiClient(t, rs).Models.GenerateContent(context.Background(), "m", genai.Text("Count."),
		&genai.GenerateContentConfig{CandidateCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(up.received()[0].Body), `"n":2`) {
		t.Errorf("the upstream was not asked for 2 choices: %s", up.received()[0].Body)
	}
	if len(res.Candidates) != 2 {
		t.Fatalf("%d candidates, want 2: %+v", len(res.Candidates), res.Candidates)
	}
	for i, want := range []struct {
		text   string
		finish genai.FinishReason
	}{{"One", genai.FinishReasonStop}, {"Two", genai.FinishReasonMaxTokens}} {
		c := res.Candidates[i]
		if c.Index != int32(i) || c.Content == nil || len(c.Content.Parts) != 1 || c.Content.Parts[0].Text != want.text || c.FinishReason != want.finish {
			t.Errorf("candidate %d: %+v", i, c)
		}
	}
	if res.UsageMetadata == nil || res.UsageMetadata.TotalTokenCount != 5 {
		t.Errorf("usage %+v", res.UsageMetadata)
	}
}

// TestGeminiMediaToAnthropic: a Gemini client's inline image and PDF reach an Anthropic
// upstream as an image block and a document block, beside the text: none is dropped.
func TestGeminiMediaToAnthropic(t *testing.T) {
	up, _, rs := newGeminiRouter(t, "anthropic", anthropicAgentUpstream)
	contents := []*genai.Content{genai.NewContentFromParts([]*genai.Part{
		genai.NewPartFromText("Summarise the page and the picture."),
		genai.NewPartFromBytes([]byte("%PDF-1.4"), "application/pdf"),
		genai.NewPartFromBytes([]byte{0x89, 'P', 'N', 'G'}, "image/png"),
	}, genai.RoleUser)}
	if _, err := geminiClient(t, rs).Models.GenerateContent(context.Background(), "m", contents, nil); err != nil {
		t.Fatal(err)
	}
	var sent struct {
		Messages []struct {
			Content []struct {
				Type   string
				Text   string
				Source *struct {
					Type      string
					MediaType string `json:"media_type"`
					Data      string
				}
			}
		}
	}
	body := up.received()[0].Body
	if err := json.Unmarshal(body, &sent); err != nil || len(sent.Messages) != 1 {
		t.Fatalf("%v: %s", err, body)
	}
	blocks := sent.Messages[0].Content
	if len(blocks) != 3 || blocks[0].Type != "text" ||
		blocks[1].Type != "document" || blocks[1].Source == nil || blocks[1].Source.Type != "base64" ||
		blocks[1].Source.MediaType != "application/pdf" || blocks[1].Source.Data != "JVBERi0xLjQ=" ||
		blocks[2].Type != "image" || blocks[2].Source == nil || blocks[2].Source.MediaType != "image/png" {
		t.Errorf("the Anthropic request's blocks: %s", body)
	}
}

// TestGeminiOpenAIEndpointToolFinish: Google's OpenAI-compatible endpoint streams a turn that
// called a tool with finish_reason "stop" (its whole replies say "tool_calls"); openai-go,
// streaming through a provider on it, reads "tool_calls", so that the agent runs the tool. A
// text turn still ends with "stop".
func TestGeminiOpenAIEndpointToolFinish(t *testing.T) {
	const head = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gemini-up","choices":[`
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(readBody(r), `"tools"`) {
			sseReply(cleanStream)(w, r)
			return
		}
		sseReply(head+`{"delta":{"role":"assistant","tool_calls":[{"function":{"arguments":"{\"city\":\"Paris\"}","name":"get_weather"},"id":"x1","type":"function","index":0}]},"index":0}]}`+"\n\n",
			head+`{"delta":{"role":"assistant"},"finish_reason":"stop","index":0}],"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}}`+"\n\n",
			"data: [DONE]\n\n")(w, r)
	})
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{provider("gemini-openai", up.URL+"/v1beta/openai", []string{"sk-gem-upstream-01"}, "m", "gemini-up")}})
	// The provider's base URL is the test's, not Google's: say what Google's would have said.
	tr.pools["m"].targets[0].Provider.StopAfterToolCalls = true
	c := sdkClient(serveRouter(t, tr))
	stream := func(params openai.ChatCompletionNewParams) (openai.ChatCompletion, string) {
		t.Helper()
		acc := streamChat(t, c, params)
		if len(acc.Choices) != 1 {
			t.Fatalf("stream: %+v", acc.ChatCompletion)
		}
		return acc.ChatCompletion, string(acc.Choices[0].FinishReason)
	}
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")}
	res, finish := stream(openai.ChatCompletionNewParams{Model: "m", Messages: msgs,
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather"})}})
	if finish != "tool_calls" || len(res.Choices[0].Message.ToolCalls) != 1 || res.Usage.TotalTokens != 14 {
		t.Errorf("tool turn: finish %q, %d tool calls, %d tokens", finish, len(res.Choices[0].Message.ToolCalls), res.Usage.TotalTokens)
	}
	if _, finish = stream(openai.ChatCompletionNewParams{Model: "m", Messages: msgs}); finish != "stop" {
		t.Errorf("text turn: finish %q", finish)
	}
}

// TestUntranslatableTargetPassedOver: a conversation of system messages alone, which OpenAI
// takes and Gemini does not, goes past the pool's Gemini provider to its OpenAI one, whatever
// the order; a pool with no target that takes it answers the translation's 400.
func TestUntranslatableTargetPassedOver(t *testing.T) {
	gem := newFakeUpstream(t, geminiAgentUpstream)
	oai := newFakeUpstream(t, okChat)
	pg := provider("gem", gem.URL+"/v1beta", []string{"sk-gem-upstream-01"}, "m", "m-up")
	pg.API = "gemini"
	only := provider("gem2", gem.URL+"/v1beta", []string{"sk-gem-upstream-02"}, "g", "m-up")
	only.API = "gemini"
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
		pg, provider("oai", oai.URL+"/v1", []string{"sk-oai-upstream-01"}, "m", "gpt-up"), only,
	}})
	c := sdkClient(serveRouter(t, tr))
	params := openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Say hi.")}}
	res, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil || res.Choices[0].Message.Content != "hi" {
		t.Fatalf("mixed pool: %v %+v", err, res)
	}
	if gem.calls.Load() != 0 || oai.calls.Load() != 1 {
		t.Errorf("Gemini called %d times, OpenAI %d", gem.calls.Load(), oai.calls.Load())
	}
	params.Model = "g"
	_, err = c.Chat.Completions.New(context.Background(), params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, "no user or assistant message") {
		t.Fatalf("Gemini-only pool: %v", err)
	}
	if gem.calls.Load() != 0 {
		t.Errorf("an untranslatable request reached Gemini")
	}
}

// TestGeminiSDKParallelCallsUnderOneIndex: Ollama's OpenAI API streams every parallel call of a
// turn under index 0, each with its own id. Google's SDK must get two function calls.
func TestGeminiSDKParallelCallsUnderOneIndex(t *testing.T) {
	call := func(id, city string) string {
		return `{"id":"c1","object":"chat.completion.chunk","model":"m-up","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"` + id +
			`","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"` + city + `\"}"}}]},"finish_reason":null}]}`
	}
	_, _, rs := newGeminiRouter(t, "openai", sseReply(
		"data: "+call("call_1", "Paris")+"\n\n",
		"data: "+call("call_2", "Rome")+"\n\n",
		`data: {"id":"c1","object":"chat.completion.chunk","model":"m-up","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`+"\n\n",
		"data: [DONE]\n\n"))
	c := geminiClient(t, rs)
	var cities []any
	for res, err := range c.Models.GenerateContentStream(context.Background(), "m",
		[]*genai.Content{genai.NewContentFromText("Weather in Paris and Rome?", genai.RoleUser)},
		&genai.GenerateContentConfig{Tools: []*genai.Tool{geminiWeatherTool}}) {
		if err != nil {
			t.Fatalf("SDK stream error: %v", err)
		}
		for _, fc := range res.FunctionCalls() {
			cities = append(cities, fc.Args["city"])
		}
	}
	if len(cities) != 2 || cities[0] != "Paris" || cities[1] != "Rome" {
		t.Fatalf("function calls for %v, want Paris and Rome", cities)
	}
}

// TestGeminiSDKEmbedContent: Google's Go SDK embeds (batchEmbedContents) through a Gemini
// provider (passed through, each request's model the upstream id) and through an OpenAI one
// (translated to /v1/embeddings and back, vectors in input order).
func TestGeminiSDKEmbedContent(t *testing.T) {
	for _, api := range []string{"gemini", "openai"} {
		t.Run(api, func(t *testing.T) {
			up, _, rs := newGeminiRouter(t, api, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if api == "gemini" {
					_, _ = io.WriteString(w, `{"embeddings":[{"values":[0.1,0.2]},{"values":[0.3,0.4]}]}`)
					return
				}
				_, _ = io.WriteString(w, `{"object":"list","model":"m-up","data":[{"object":"embedding","index":1,"embedding":[0.3,0.4]},`+
					`{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"usage":{"prompt_tokens":4,"total_tokens":4}}`)
			})
			dims := int32(2)
			res, err := geminiClient(t, rs).Models.EmbedContent(context.Background(), "m",
				[]*genai.Content{genai.NewContentFromText("Hello", genai.RoleUser), genai.NewContentFromText("world", genai.RoleUser)},
				&genai.EmbedContentConfig{OutputDimensionality: &dims, TaskType: "RETRIEVAL_DOCUMENT"})
			if err != nil {
				t.Fatalf("SDK error: %v", err)
			}
			if len(res.Embeddings) != 2 || !slices.Equal(res.Embeddings[0].Values, []float32{0.1, 0.2}) || !slices.Equal(res.Embeddings[1].Values, []float32{0.3, 0.4}) {
				t.Fatalf("embeddings %+v", res.Embeddings)
			}
			got := up.received()
			if len(got) != 1 {
				t.Fatalf("upstream got %d requests", len(got))
			}
			switch api {
			case "gemini":
				if got[0].Path != "/v1beta/models/m-up:batchEmbedContents" || strings.Contains(string(got[0].Body), `"models/m"`) ||
					!strings.Contains(string(got[0].Body), `"models/m-up"`) {
					t.Errorf("passthrough to %s: %s", got[0].Path, got[0].Body)
				}
			case "openai":
				var body struct {
					Model      string
					Input      []string
					Dimensions int
				}
				if err := json.Unmarshal(got[0].Body, &body); err != nil || got[0].Path != "/v1/embeddings" || body.Model != "m-up" ||
					!slices.Equal(body.Input, []string{"Hello", "world"}) || body.Dimensions != 2 {
					t.Errorf("translated to %s: %s", got[0].Path, got[0].Body)
				}
			}
		})
	}
}

// TestGeminiCountTokensNamesTheUpstreamModel: a countTokens body in its generateContentRequest
// form names the model (Google's REST examples do), the public name the client knows; the
// Gemini upstream gets the upstream id there, as in the URL, and counts for that model.
func TestGeminiCountTokensNamesTheUpstreamModel(t *testing.T) {
	up, tr, _ := newGeminiRouter(t, "gemini", geminiAgentUpstream)
	rec := tr.do(jsonRequest(http.MethodPost, "/v1beta/models/m:countTokens",
		`{"generateContentRequest":{"model":"models/m","contents":[{"role":"user","parts":[{"text":"Hi"}]}]}}`))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"totalTokens":9`) {
		t.Fatalf("countTokens: %d %s", rec.Code, rec.Body)
	}
	got := up.received()[0]
	if got.Path != "/v1beta/models/m-up:countTokens" || !strings.Contains(string(got.Body), `"model":"models/m-up"`) {
		t.Errorf("upstream got %s %s", got.Path, got.Body)
	}
}

// TestGeminiSDKListsWhatEachModelServes: Google's SDK reads a model's methods from
// supportedGenerationMethods (its SupportedActions), and clients pick models by them. A model
// whose providers serve only embeddings must not be listed as one that generates content,
// and one that serves embeddings says embedContent; token limits come along.
func TestGeminiSDKListsWhatEachModelServes(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	chat := provider("chat", up.URL+"/v1", []string{"sk-gem-list-1"}, "talk", "talk-up")
	chat.Serves = []string{"chat"}
	emb := provider("emb", up.URL+"/v1", []string{"sk-gem-list-2"}, "vec", "vec-up")
	emb.Serves = []string{"embeddings"}
	both := provider("both", up.URL+"/v1", []string{"sk-gem-list-3"}, "duo", "duo-up")
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{chat, emb, both},
		Models: []catalog.ModelInfo{{Name: "talk", ContextLength: 32000, MaxOutput: 4096}}})
	rs := serveRouter(t, tr)
	c := geminiClient(t, rs)
	got := map[string]*genai.Model{}
	for m, err := range c.Models.All(context.Background()) {
		if err != nil {
			t.Fatalf("Models.All: %v", err)
		}
		got[m.Name] = m
	}
	want := map[string][]string{
		"models/talk": {"generateContent", "streamGenerateContent", "countTokens"},
		"models/vec":  {"embedContent", "batchEmbedContents"},
		"models/duo":  {"generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"},
	}
	for name, methods := range want {
		m := got[name]
		if m == nil {
			t.Fatalf("%s not listed: %v", name, got)
		}
		if !slices.Equal(m.SupportedActions, methods) {
			t.Errorf("%s: methods %v, want %v", name, m.SupportedActions, methods)
		}
	}
	if m := got["models/talk"]; m.InputTokenLimit != 32000 || m.OutputTokenLimit != 4096 {
		t.Errorf("talk: limits %d/%d, want 32000/4096", m.InputTokenLimit, m.OutputTokenLimit)
	}
	m, err := c.Models.Get(context.Background(), "vec", nil)
	if err != nil || !slices.Equal(m.SupportedActions, want["models/vec"]) {
		t.Errorf("Models.Get(vec): %+v, %v", m, err)
	}
}

// TestGeminiClientToolResultAsTheAISDKWrapsIt: the Vercel AI SDK's Google provider sends a
// tool's text result as {"name": <function>, "content": <text>}. An OpenAI or Anthropic
// upstream gets the text itself, as from {"result": text}, not that wrapper as JSON.
func TestGeminiClientToolResultAsTheAISDKWrapsIt(t *testing.T) {
	for _, c := range []struct {
		api   string
		reply http.HandlerFunc
	}{{"openai", openAIAgentUpstream}, {"anthropic", anthropicAgentUpstream}} {
		up, tr, _ := newGeminiRouter(t, c.api, c.reply)
		rec := tr.do(jsonRequest(http.MethodPost, "/v1beta/models/m:generateContent", `{"contents":[
			{"role":"user","parts":[{"text":"Weather in Paris?"}]},
			{"role":"model","parts":[{"functionCall":{"id":"call_1","name":"get_weather","args":{"city":"Paris"}}}]},
			{"role":"user","parts":[{"functionResponse":{"id":"call_1","name":"get_weather","response":{"name":"get_weather","content":"18C"}}}]}],
			"tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]}]}`))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"text":"It is 18C in Paris."`) {
			t.Errorf("%s: %d %s", c.api, rec.Code, rec.Body)
		}
		if got := up.received(); len(got) != 1 || !bytes.Contains(got[0].Body, []byte(`"18C"`)) || bytes.Contains(got[0].Body, []byte(`content\":\"18C`)) {
			t.Errorf("%s: the upstream got %s", c.api, got[0].Body)
		}
	}
}
