package llmrouter

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// azureProvider is an `api azure` provider whose public model m is the deployment dep.
func azureProvider(name, baseURL, version string) catalog.ProviderConfig {
	p := provider(name, baseURL, []string{"sk-azure-" + name + "-0123456789"}, "m", "dep-"+name)
	p.API, p.APIVersion = "azure", version
	return p
}

// TestAzureUpstream sends OpenAI clients' calls to Azure OpenAI: the deployments API with the
// deployment in the path and the api-version query, or the v1 API with the deployment as the
// body's model; the key in api-key, never as a bearer token.
func TestAzureUpstream(t *testing.T) {
	for _, tc := range []struct {
		version, wantPath, wantQuery string
	}{
		{"", "/openai/deployments/dep-az/chat/completions", "api-version=" + catalog.DefaultAzureAPIVersion},
		{"2025-04-01-preview", "/openai/deployments/dep-az/chat/completions", "api-version=2025-04-01-preview"},
		{"v1", "/openai/v1/chat/completions", ""},
	} {
		t.Run("api_version "+tc.version, func(t *testing.T) {
			var queries requestLog
			up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				queries.add(r.URL.RawQuery)
				if strings.Contains(r.URL.Path, "/embeddings") {
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5]}],"model":"dep-az","usage":{"prompt_tokens":1,"total_tokens":1}}`))
					return
				}
				if strings.Contains(readBody(r), `"stream":true`) {
					sseReply(cleanStream)(w, r)
					return
				}
				okChat(w, r)
			})
			tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{azureProvider("az", up.URL, tc.version)}})
			client := openai.NewClient(option.WithBaseURL(serveRouter(t, tr).URL+"/v1"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
			ctx := context.Background()
			msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}
			c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m", Messages: msgs})
			if err != nil || c.Choices[0].Message.Content != "hi" {
				t.Fatalf("whole: %v %+v", err, c)
			}
			s := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "m", Messages: msgs})
			var acc openai.ChatCompletionAccumulator
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if s.Err() != nil || acc.Choices[0].Message.Content != "Hello world" {
				t.Fatalf("stream: %v %+v", s.Err(), acc.Choices)
			}
			e, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "m", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
			if err != nil || len(e.Data) != 1 {
				t.Fatalf("embeddings: %v %+v", err, e)
			}
			got := up.received()
			wantEmb := strings.Replace(tc.wantPath, "/chat/completions", "/embeddings", 1)
			for i, rq := range got {
				want := tc.wantPath
				if i == 2 {
					want = wantEmb
				}
				if rq.Path != want || queries.list()[i] != tc.wantQuery {
					t.Errorf("request %d went to %s?%s, want %s?%s", i, rq.Path, queries.list()[i], want, tc.wantQuery)
				}
				if rq.Header.Get("Api-Key") != "sk-azure-az-0123456789" || rq.Header.Get("Authorization") != "" {
					t.Errorf("request %d: api-key %q, authorization %q", i, rq.Header.Get("Api-Key"), rq.Header.Get("Authorization"))
				}
				var body struct{ Model string }
				if json.Unmarshal(rq.Body, &body) != nil || body.Model != "dep-az" {
					t.Errorf("request %d: body model %q, want the deployment", i, body.Model)
				}
			}
			if len(got) != 3 {
				t.Fatalf("upstream got %d requests, want 3", len(got))
			}
		})
	}
}

// TestAzureIngress serves clients built for Azure OpenAI: openai-go's azure options send
// `/openai/deployments/{deployment}/...?api-version=...` with the key in api-key; the
// deployment is the public model, here reached at an OpenAI upstream under its own id.
func TestAzureIngress(t *testing.T) {
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(readBody(r), `"stream":true`) {
			sseReply(cleanStream)(w, r)
			return
		}
		okChat(w, r)
	})
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("p", up.URL+"/v1", []string{"sk-p"}, "gpt-4o", "gpt-4o-up")},
		Auth:      &AuthConfig{Keys: []GatewayKey{{Name: "team", Key: "gw-secret-team-1"}}},
	})
	rs := serveRouter(t, tr)
	client := openai.NewClient(azure.WithEndpoint(rs.URL, "2024-10-21"), azure.WithAPIKey("gw-secret-team-1"),
		azure.WithUnsafeAllowHTTP(), option.WithMaxRetries(0))
	ctx := context.Background()
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}
	c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: msgs})
	if err != nil || c.Choices[0].Message.Content != "hi" {
		t.Fatalf("whole: %v %+v", err, c)
	}
	s := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: msgs})
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if s.Err() != nil || acc.Choices[0].Message.Content != "Hello world" {
		t.Fatalf("stream: %v %+v", s.Err(), acc.Choices)
	}
	// Azure serves the Responses API at /openai/responses, without a deployment in the path:
	// the model is the body's.
	resp, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	if err != nil || resp.OutputText() != "hi" {
		t.Fatalf("responses: %v %+v", err, resp)
	}
	// Azure clients list and retrieve models under /openai (the data plane's /openai/models,
	// the v1 API's /openai/v1/models): the router's list.
	v1 := openai.NewClient(option.WithBaseURL(rs.URL+"/openai/v1/"), option.WithAPIKey("gw-secret-team-1"), option.WithMaxRetries(0))
	for name, c := range map[string]openai.Client{"azure": client, "v1": v1} {
		list, err := c.Models.List(ctx)
		if err != nil || len(list.Data) != 1 || list.Data[0].ID != "gpt-4o" {
			t.Fatalf("%s: models.list: %v %+v", name, err, list)
		}
		m, err := c.Models.Get(ctx, "gpt-4o")
		if err != nil || m.ID != "gpt-4o" || m.OwnedBy != "p" {
			t.Fatalf("%s: models.retrieve: %v %+v", name, err, m)
		}
	}
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "no-such-deployment", Messages: msgs})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" {
		t.Fatalf("unknown deployment: %v", err)
	}
	for i, rq := range up.received() {
		var body struct{ Model string }
		if rq.Path != "/v1/chat/completions" || json.Unmarshal(rq.Body, &body) != nil || body.Model != "gpt-4o-up" {
			t.Errorf("request %d: %s model %q", i, rq.Path, body.Model)
		}
		if rq.Header.Get("Api-Key") != "" || rq.Header.Get("Authorization") != "Bearer sk-p" {
			t.Errorf("request %d: the gateway key went on, or the provider's did not: %v", i, rq.Header)
		}
	}

	// A deployment path without a model in the body, and one that names another API.
	rec := tr.do(jsonRequest(http.MethodPost, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
		`{"messages":[{"role":"user","content":"hi"}]}`, "Api-Key", "gw-secret-team-1"))
	if rec.Code != http.StatusOK {
		t.Fatalf("deployment path without a body model: %d %s", rec.Code, rec.Body)
	}
	rec = tr.do(jsonRequest(http.MethodPost, "/openai/deployments/gpt-4o/images/generations", `{}`, "Api-Key", "gw-secret-team-1"))
	if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != http.StatusNotFound || err != nil || e.Code != "unknown_endpoint" {
		t.Fatalf("unserved deployment path: %d %s", rec.Code, rec.Body)
	}
}

// TestNodeAzureOpenAI drives the router's Azure paths with the openai npm package's
// AzureOpenAI client: chat whole and streamed, embeddings, responses.create, a deployment fixed
// in the client's URL, and an unknown deployment.
func TestNodeAzureOpenAI(t *testing.T) {
	node := nodeReady(t)
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/embeddings"):
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.25,-2]}],"model":"gpt-4o-up","usage":{"prompt_tokens":1,"total_tokens":1}}`))
		case strings.Contains(readBody(r), `"stream":true`):
			sseReply(cleanStream)(w, r)
		default:
			okChat(w, r)
		}
	})
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("p", up.URL+"/v1", []string{"sk-p"}, "gpt-4o", "gpt-4o-up")},
		Auth:      &AuthConfig{Keys: []GatewayKey{{Name: "team", Key: "gw-secret-team-1"}}},
	})
	stdout, stderr := runNodeScript(t, node, "azure.mjs", serveRouter(t, tr).URL)
	var out struct {
		Plain, Deployment struct{ Text, Finish, Error string }
		Responses         struct{ Text, Status, Error string }
		Stream            struct {
			Text, Finish, Error string
			Usage               struct {
				Total int `json:"total_tokens"`
			}
		}
		Embeddings struct {
			N      int
			Vector []float64
			Error  string
		}
		Unknown struct {
			Error  string
			Status int
		}
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr: %s", err, stdout, stderr)
	}
	if out.Plain.Text != "hi" || out.Plain.Finish != "stop" {
		t.Errorf("plain: %+v", out.Plain)
	}
	if out.Stream.Text != "Hello world" || out.Stream.Finish != "stop" || out.Stream.Usage.Total != 8 {
		t.Errorf("stream: %+v", out.Stream)
	}
	if out.Embeddings.N != 1 || len(out.Embeddings.Vector) != 2 || out.Embeddings.Vector[1] != -2 {
		t.Errorf("embeddings: %+v", out.Embeddings)
	}
	if out.Responses.Text != "hi" || out.Responses.Status != "completed" {
		t.Errorf("responses.create: %+v", out.Responses)
	}
	if out.Deployment.Text != "hi" {
		t.Errorf("deployment in the client's URL: %+v", out.Deployment)
	}
	if out.Unknown.Status != http.StatusNotFound || !strings.Contains(out.Unknown.Error, "nope") {
		t.Errorf("unknown deployment: %+v", out.Unknown)
	}
	for i, rq := range up.received() {
		var body struct{ Model string }
		if json.Unmarshal(rq.Body, &body) != nil || body.Model != "gpt-4o-up" || rq.Header.Get("Authorization") != "Bearer sk-p" {
			t.Errorf("request %d: model %q, authorization %q", i, body.Model, rq.Header.Get("Authorization"))
		}
	}
}

// TestAzureResponsesRetrieve: an Azure client's responses.retrieve (GET
// /openai/responses/{id}?api-version=...) reaches the provider that made the response, at its
// /responses/{id}, without Azure's api-version.
func TestAzureResponsesRetrieve(t *testing.T) {
	var query atomic.Value
	native := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			query.Store(r.URL.RawQuery)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"resp_up1","object":"response","created_at":1,"status":"completed","model":"m-up","output":[]}`)
			return
		}
		nativeResponsesUpstream(w, r)
	})
	on := true
	pn := provider("native", native.URL+"/v1", []string{"sk-upstream-key-0002"}, "gpt-4o", "m-up")
	pn.Responses = &on
	rs := serveRouter(t, newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pn}}))
	client := openai.NewClient(azure.WithEndpoint(rs.URL, "2025-04-01-preview"), azure.WithAPIKey("unused"),
		azure.WithUnsafeAllowHTTP(), option.WithMaxRetries(0))
	ctx := context.Background()
	created, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", Store: openai.Bool(true),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := client.Responses.Get(ctx, created.ID, responses.ResponseGetParams{})
	if err != nil || got.ID != "resp_up1" {
		t.Fatalf("retrieve %q: %v %+v", created.ID, err, got)
	}
	last := native.received()[len(native.received())-1]
	if q, _ := query.Load().(string); last.Path != "/v1/responses/resp_up1" || strings.Contains(q, "api-version") {
		t.Errorf("the provider got GET %s?%s", last.Path, q)
	}
}
