package llmrouter

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"google.golang.org/genai"
)

// geminiErrorReply answers code with a Gemini error body, details as given.
func geminiErrorReply(code int, status, details string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"error":{"code":`+itoa(code)+`,"message":"upstream says `+status+`","status":"`+status+`","details":[`+details+`]}}`)
	}
}

// checkGeminiError asserts body is Google's error object with the given code and status.
func checkGeminiError(t *testing.T, what string, body []byte, code int, status string) {
	t.Helper()
	var e struct {
		Error *struct {
			Code            int
			Message, Status string
		}
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || e.Error.Code != code || e.Error.Status != status || e.Error.Message == "" {
		t.Errorf("%s: body %s, want a Gemini error %d %s", what, body, code, status)
	}
}

const geminiHi = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`

// TestGeminiFailoverAcrossDialects: a pool of a Gemini, an OpenAI and an Anthropic provider.
// Gemini's RESOURCE_EXHAUSTED (with its retryDelay) cools the Gemini target for that long and
// the request goes on to the next; an OpenAI 503 sends it to Anthropic; clients of every
// dialect get their answer.
func TestGeminiFailoverAcrossDialects(t *testing.T) {
	gem := newFakeUpstream(t, geminiErrorReply(http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
		`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}`))
	oai := newFakeUpstream(t, status(http.StatusServiceUnavailable))
	ant := newFakeUpstream(t, anthropicAgentUpstream)
	pg := provider("gem", gem.URL+"/v1beta", []string{"sk-gem-upstream-01"}, "m", "gemini-up")
	pg.API = "gemini"
	pa := provider("ant", ant.URL+"/v1", []string{"sk-ant-upstream-01"}, "m", "claude-up")
	pa.API = "anthropic"
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
		pg, provider("oai", oai.URL+"/v1", []string{"sk-oai-upstream-01"}, "m", "gpt-up"), pa,
	}})
	rec := tr.do(jsonRequest(http.MethodPost, "/v1beta/models/m:generateContent", geminiHi))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"functionCall"`) {
		t.Fatalf("Gemini client: %d %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("X-LLM-Router-Failures"); !strings.Contains(got, "429 rate_limited") || !strings.Contains(got, "503") {
		t.Errorf("failures header %q", got)
	}
	gt := tr.pools["m"].targets[0]
	now := tr.clock.Now()
	if until := time.Unix(0, gt.health.CoolUntil()); until.Sub(now) != 37*time.Second {
		t.Errorf("the Gemini target cools until +%s, want its retryDelay 37s", until.Sub(now))
	}
	rec = tr.chat(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if rec.Code != http.StatusOK || gem.calls.Load() != 1 {
		t.Errorf("OpenAI client: %d %s; Gemini called %d times, want 1 (cooling)", rec.Code, rec.Body, gem.calls.Load())
	}
}

// TestGeminiErrors: the router's errors and upstream errors on Gemini paths come in Google's
// shape; a refused Gemini key cools the key; an INVALID_ARGUMENT is the client's and cools
// nothing; unknown Gemini paths are 404s, never an empty 200.
func TestGeminiErrors(t *testing.T) {
	refused := newFakeUpstream(t, geminiErrorReply(http.StatusBadRequest, "INVALID_ARGUMENT",
		`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}`))
	invalid := newFakeUpstream(t, geminiErrorReply(http.StatusBadRequest, "INVALID_ARGUMENT", ""))
	p1 := provider("bad", refused.URL+"/v1beta", []string{"sk-gem-refused-01"}, "k", "gemini-up")
	p1.API = "gemini"
	p2 := provider("inv", invalid.URL+"/v1beta", []string{"sk-gem-valid-01"}, "v", "gemini-up")
	p2.API = "gemini"
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p1, p2}})

	rec := tr.do(jsonRequest(http.MethodPost, "/v1beta/models/k:generateContent", geminiHi))
	if kt := tr.pools["k"].targets[0]; kt.key == nil || !kt.key.Cooling(tr.clock.Now().UnixNano()) {
		t.Errorf("API_KEY_INVALID did not cool the key (status %d)", rec.Code)
	}
	checkGeminiError(t, "a refused key", rec.Body.Bytes(), rec.Code, "INVALID_ARGUMENT")

	// The OpenAI client of the same upstream reads the error in OpenAI's shape.
	rec = tr.chat(`{"model":"v","messages":[{"role":"user","content":"hi"}]}`)
	if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != http.StatusBadRequest || err != nil || !strings.Contains(e.Message, "upstream says INVALID_ARGUMENT") {
		t.Errorf("OpenAI client, Gemini 400: %d %s", rec.Code, rec.Body)
	}
	rec = tr.do(jsonRequest(http.MethodPost, "/v1beta/models/v:generateContent", geminiHi))
	if rec.Code != http.StatusBadRequest || tr.pools["v"].targets[0].cooling(tr.clock.Now().UnixNano()) {
		t.Errorf("INVALID_ARGUMENT: status %d, cooling %v", rec.Code, tr.pools["v"].targets[0].cooling(tr.clock.Now().UnixNano()))
	}
	checkGeminiError(t, "INVALID_ARGUMENT passed through", rec.Body.Bytes(), http.StatusBadRequest, "INVALID_ARGUMENT")

	for _, tc := range []struct {
		method, path, body string
		code               int
		status             string
	}{
		{http.MethodPost, "/v1beta/models/nope:generateContent", geminiHi, http.StatusNotFound, "NOT_FOUND"},
		{http.MethodPost, "/v1beta/models/v:generateContent", `{"contents":`, http.StatusBadRequest, "INVALID_ARGUMENT"},
		{http.MethodPost, "/v1beta/models/v:predict", geminiHi, http.StatusNotFound, "NOT_FOUND"},
		{http.MethodPost, "/v1beta/cachedContents", `{}`, http.StatusNotFound, "NOT_FOUND"},
		{http.MethodGet, "/v1beta/models/v:generateContent", "", http.StatusMethodNotAllowed, "INVALID_ARGUMENT"},
		{http.MethodGet, "/v1beta/models/nope", "", http.StatusNotFound, "NOT_FOUND"},
	} {
		rec := tr.do(jsonRequest(tc.method, tc.path, tc.body))
		if rec.Code != tc.code || rec.Header().Get("X-Next") != "" {
			t.Errorf("%s %s: status %d (next %q), want %d", tc.method, tc.path, rec.Code, rec.Header().Get("X-Next"), tc.code)
		}
		checkGeminiError(t, tc.method+" "+tc.path, rec.Body.Bytes(), tc.code, tc.status)
	}
	rec = tr.do(jsonRequest(http.MethodGet, "/v1beta/models/v", ""))
	var m struct {
		Name                       string
		SupportedGenerationMethods []string
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &m) != nil || m.Name != "models/v" || len(m.SupportedGenerationMethods) == 0 {
		t.Errorf("models.get: %d %s", rec.Code, rec.Body)
	}
}

// TestGeminiQueryKey: a gateway key in ?key= (Google's REST examples) is taken on Gemini
// paths, refused when wrong, and never forwarded: the upstream gets the provider's key.
func TestGeminiQueryKey(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("p", up.URL+"/v1", []string{"sk-p"}, "m", "m-up")},
		Auth:      &AuthConfig{Keys: []GatewayKey{{Name: "team", Key: "gw-secret-team-1"}}},
	})
	rec := tr.do(jsonRequest(http.MethodPost, "/v1beta/models/m:generateContent?key=gw-secret-team-1", geminiHi))
	if rec.Code != http.StatusOK {
		t.Fatalf("?key=: %d %s", rec.Code, rec.Body)
	}
	rec = tr.do(jsonRequest(http.MethodPost, "/v1beta/models/m:generateContent?key=gw-wrong", geminiHi))
	checkGeminiError(t, "a wrong ?key=", rec.Body.Bytes(), http.StatusUnauthorized, "UNAUTHENTICATED")
	// Only Gemini paths read the query.
	rec = tr.do(jsonRequest(http.MethodPost, "/v1/chat/completions?key=gw-secret-team-1", `{"model":"m","messages":[]}`))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("?key= on an OpenAI path: %d", rec.Code)
	}
	for _, r := range up.received() {
		if strings.Contains(r.Path, "key") || r.Header.Get("Authorization") != "Bearer sk-p" || r.Header.Get("X-Goog-Api-Key") != "" {
			t.Errorf("upstream request %s %v", r.Path, r.Header)
		}
	}
	if strings.Contains(tr.logs.String(), "gw-secret-team") {
		t.Errorf("the gateway key reached the log:\n%s", tr.logs)
	}
}

// TestGeminiArrayStream: :streamGenerateContent without alt=sse answers one JSON array written
// as it comes, from a Gemini upstream (re-framed) and from an OpenAI one (translated); a stream
// cut after it began still closes the array, its last element the error.
func TestGeminiArrayStream(t *testing.T) {
	for _, api := range []string{"gemini", "openai"} {
		t.Run(api, func(t *testing.T) {
			reply := geminiAgentUpstream
			if api == "openai" {
				reply = func(w http.ResponseWriter, r *http.Request) { sseReply(cleanStream)(w, r) }
			}
			_, tr, _ := newGeminiRouter(t, api, reply)
			rec := tr.do(jsonRequest(http.MethodPost, "/v1beta/models/m:streamGenerateContent", geminiHi))
			var chunks []struct {
				Candidates []struct {
					Content      struct{ Parts []struct{ Text string } }
					FinishReason string
				}
				UsageMetadata *struct{ TotalTokenCount int }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &chunks); err != nil || rec.Code != http.StatusOK || len(chunks) < 2 {
				t.Fatalf("status %d, %v: %s", rec.Code, err, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			text := ""
			for _, c := range chunks {
				for _, p := range c.Candidates[0].Content.Parts {
					text += p.Text
				}
			}
			last := chunks[len(chunks)-1]
			if text != "Hello world" || last.Candidates[0].FinishReason != "STOP" || last.UsageMetadata == nil || last.UsageMetadata.TotalTokenCount != 8 {
				t.Errorf("assembled %q, last chunk %+v", text, last)
			}
		})
	}
	for api, cut := range map[string]http.HandlerFunc{
		"gemini": cutAfter("data: "+`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}]}`+"\r\n\r\n", "data: {"),
		"openai": cutAfter(roleChunkEv("Hel"), chunkEv("lo")[:20]),
		// Through the pivot and on to Gemini: two translators in a chain.
		"anthropic": cutAfter(strings.Join(anthropicHelloStream[:3], ""), "event: content_block_delta\ndata: {"),
	} {
		_, tr, _ := newGeminiRouter(t, api, cut)
		rec := tr.do(jsonRequest(http.MethodPost, "/v1beta/models/m:streamGenerateContent", geminiHi))
		var elems []json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &elems); err != nil || len(elems) != 2 {
			t.Fatalf("%s: a cut array stream is not a closed array of the chunk and the error: %v %s", api, err, rec.Body)
		}
		checkGeminiError(t, api+": the cut stream's last element", elems[1], 500, "INTERNAL")
	}
}

// TestGeminiCutSSEStreamEndsInAComment: a server-sent Gemini stream its upstream cut ends
// with the error event and then a comment. The @google/generative-ai SDK (under LangChain's
// ChatGoogleGenerativeAI) takes the error object for one more chunk and returned the text
// before it as a whole answer; it raises on the comment, which other clients ignore.
func TestGeminiCutSSEStreamEndsInAComment(t *testing.T) {
	tr := newLibRouter(t).tr
	for _, api := range libDialects {
		rec := tr.do(jsonRequest(http.MethodPost, "/v1beta/models/broken-"+api+":streamGenerateContent?alt=sse", geminiHi))
		body := rec.Body.String()
		checkStreamHygiene(t, body)
		evs := strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n")
		if len(evs) != 3 || !strings.Contains(evs[0], `"text":"Hel"`) || evs[2] != ": stream failed" {
			t.Fatalf("%s: stream %q, want the chunk, the error event and the comment", api, body)
		}
		checkGeminiError(t, api+": the error event", []byte(strings.TrimPrefix(evs[1], "data: ")), 500, "INTERNAL")
	}
}

// geminiRetryDelays lists the retryDelay of every RetryInfo detail of a Gemini error.
func geminiRetryDelays(details []map[string]any) []string {
	var delays []string
	for _, d := range details {
		if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" {
			s, _ := d["retryDelay"].(string)
			delays = append(delays, s)
		}
	}
	return delays
}

// TestGeminiRetryInfoWhenPoolIsRateLimited: Google's SDKs expose no headers, so a Gemini client
// learns how long to wait only from the body's RetryInfo. The upstream's own 429 reaches the
// Go SDK as it is (its retryDelay 37s); once every target cools for its rate limit, the
// router's own 429 carries a RetryInfo whose retryDelay equals its Retry-After.
func TestGeminiRetryInfoWhenPoolIsRateLimited(t *testing.T) {
	_, tr, rs := newGeminiRouter(t, "gemini", geminiErrorReply(http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
		`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}`))
	c := geminiClient(t, rs)
	generate := func() genai.APIError {
		t.Helper()
		_, err := c.Models.GenerateContent(context.Background(), "m", genai.Text("hi"), nil)
		var ae genai.APIError
		if !errors.As(err, &ae) || ae.Code != http.StatusTooManyRequests || ae.Status != "RESOURCE_EXHAUSTED" {
			t.Fatalf("err %v, want the SDK's APIError 429 RESOURCE_EXHAUSTED", err)
		}
		return ae
	}
	if got := geminiRetryDelays(generate().Details); len(got) != 1 || got[0] != "37s" {
		t.Errorf("the upstream's 429: retryDelays %q, want its own [37s]", got)
	}
	tr.clock.Advance(5 * time.Second)
	ae := generate()
	if !strings.Contains(ae.Message, "cooling down") {
		t.Fatalf("message %q, want the router's pool_exhausted", ae.Message)
	}
	if got := geminiRetryDelays(ae.Details); len(got) != 1 || got[0] != "32s" {
		t.Errorf("the router's 429: retryDelays %q, want [32s]", got)
	}
	rec := tr.do(jsonRequest(http.MethodPost, "/v1beta/models/m:generateContent", geminiHi))
	var e struct {
		Error struct{ Details []map[string]any }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != http.StatusTooManyRequests {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if ra, got := rec.Header().Get("Retry-After"), geminiRetryDelays(e.Error.Details); ra != "32" || len(got) != 1 || got[0] != ra+"s" {
		t.Errorf("Retry-After %q, retryDelays %q: want 32 and [32s]", ra, got)
	}
}
