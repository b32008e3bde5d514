package llmrouter

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/reqbody"
)

func TestCaddyfileServesAndMaxUpload(t *testing.T) {
	h, err := parseRouter(`llm_router {
		max_upload 50MiB
		provider jina {
			base_url https://api.jina.ai/v1
			keys {env.JINA}
			serves rerank embeddings
			serves files
			model rr jina-reranker-v2
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if h.MaxUpload != 50<<20 {
		t.Errorf("max_upload %d", h.MaxUpload)
	}
	if got := strings.Join(h.Providers[0].Serves, " "); got != "rerank embeddings files" {
		t.Errorf("serves %q", got)
	}
	if _, err := parseRouter("llm_router {\n provider p {\n base_url http://x\n serves\n }\n}"); err == nil {
		t.Error("serves without a family parsed")
	}
}

func TestServesDefaultsAndErrors(t *testing.T) {
	build := func(pc catalog.ProviderConfig) (*catalog.Provider, error) {
		pc.Models = []catalog.ModelRoute{{Name: "m"}}
		cat, _, err := catalog.Build(nil, catalog.Config{Providers: []catalog.ProviderConfig{pc}})
		if err != nil {
			return nil, err
		}
		return cat.Providers[0], nil
	}
	for _, tc := range []struct {
		pc   catalog.ProviderConfig
		want string
	}{
		{catalog.ProviderConfig{Name: "groq", BaseURLs: []string{"https://api.groq.com/openai/v1"}}, "chat completions embeddings"},
		{catalog.ProviderConfig{Name: "oa", BaseURLs: []string{"https://api.openai.com/v1"}}, "chat completions embeddings images audio moderations files batches"},
		{catalog.ProviderConfig{Name: "an", API: "anthropic", BaseURLs: []string{"https://api.anthropic.com/v1"}}, "chat"},
		{catalog.ProviderConfig{Name: "j", BaseURLs: []string{"https://api.jina.ai/v1"}, Serves: []string{"rerank"}}, "rerank"},
		{catalog.ProviderConfig{Name: "v", BaseURLs: []string{"http://vllm:8000/v1"}, Serves: []string{"chat,audio responses"}}, "chat audio"},
	} {
		p, err := build(tc.pc)
		if err != nil {
			t.Errorf("%s: %v", tc.pc.Name, err)
			continue
		}
		if got := strings.Join(p.Serves.Names(), " "); got != tc.want {
			t.Errorf("%s serves %q, want %q", tc.pc.Name, got, tc.want)
		}
		if tc.pc.Name == "v" && !p.Responses {
			t.Error("serves responses did not turn responses on")
		}
	}
	off := false
	for _, pc := range []catalog.ProviderConfig{
		{Name: "x", BaseURLs: []string{"http://x"}, Serves: []string{"speech"}},
		{Name: "a", API: "anthropic", BaseURLs: []string{"http://x"}, Serves: []string{"chat", "images"}},
		{Name: "r", BaseURLs: []string{"http://x"}, Serves: []string{"responses"}, Responses: &off},
	} {
		if _, err := build(pc); err == nil {
			t.Errorf("%s: serves %v accepted", pc.Name, pc.Serves)
		}
	}
}

func TestScanMultipart(t *testing.T) {
	const ct = "multipart/form-data; boundary=XyZ"
	part := func(name, v string) string {
		return "--XyZ\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + v + "\r\n"
	}
	file := "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n" +
		"\x00\r\n--XyZnot\r\nmodel\r\n"
	body := "preamble\r\n" + file + part("stream", "true") + part("model", "whisper-1") + "--XyZ--\r\nepilogue"
	f, err := scanMultipart(ct, []byte(body), true)
	if err != nil {
		t.Fatal(err)
	}
	if f.Model != "whisper-1" || body[f.ModelStart:f.ModelEnd] != "whisper-1" || !f.Stream || f.End != len(body) {
		t.Errorf("fields %+v", f)
	}
	for _, tc := range []struct {
		name, ct, body string
		want           error
	}{
		{"no model", ct, file + part("language", "en") + "--XyZ--", reqbody.ErrNoModel},
		{"empty model", ct, part("model", "") + "--XyZ--", reqbody.ErrNoModel},
		{"two models", ct, part("model", "a") + part("model", "b") + "--XyZ--", reqbody.ErrDuplicateModel},
		{"model with a line break", ct, part("model", "a\r\nb") + "--XyZ--", reqbody.ErrModelNotString},
		{"unclosed", ct, part("model", "a") + "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc", errBadMultipart},
		{"not multipart", "application/json", `{"model":"a"}`, errBadMultipart},
		{"no boundary", "multipart/form-data", part("model", "a"), errBadMultipart},
		{"no delimiter", ct, "model=a", errBadMultipart},
	} {
		if _, err := scanMultipart(tc.ct, []byte(tc.body), true); !errorsIs(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if f, err := scanMultipart(ct, []byte(part("purpose", "batch")+"--XyZ--"), false); err != nil || f.ModelStart != 0 || f.ModelEnd != 0 {
		t.Errorf("a files upload without a model: %+v %v", f, err)
	}
}

func FuzzScanMultipart(f *testing.F) {
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nm\r\n--b--"))
	f.Add([]byte("--b\r\n\r\n\r\n--b"))
	f.Fuzz(func(t *testing.T, body []byte) {
		fs, err := scanMultipart("multipart/form-data; boundary=b", body, true)
		if err == nil && (fs.ModelStart > fs.ModelEnd || fs.ModelEnd > len(body) || string(body[fs.ModelStart:fs.ModelEnd]) != fs.Model) {
			t.Fatalf("fields %+v do not locate the model in %q", fs, body)
		}
		if err != nil {
			return
		}
		// Where mime/multipart reads the same body whole, it reads the same model.
		mr := multipart.NewReader(bytes.NewReader(body), "b")
		var models []string
		for {
			p, perr := mr.NextPart()
			if perr == io.EOF {
				break
			}
			if perr != nil {
				return
			}
			v, rerr := io.ReadAll(p)
			if rerr != nil {
				return
			}
			if p.FormName() == "model" {
				models = append(models, string(v))
			}
		}
		if len(models) != 1 || models[0] != fs.Model {
			t.Fatalf("scanMultipart read model %q, mime/multipart %q, in %q", fs.Model, models, body)
		}
	})
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
