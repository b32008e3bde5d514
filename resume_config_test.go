package llmrouter

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// The settings of hedging and resuming, in the Caddyfile and in Provision.
func TestResumeHedgeCaddyfile(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`llm_router {
		hedge_after 750ms
		resume 2
		provider ds {
			base_url https://api.deepseek.com/beta
			continuation prefix
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Handler{HedgeAfter: caddy.Duration(750 * time.Millisecond), Resume: 2,
		Providers: []catalog.ProviderConfig{{Name: "ds", BaseURLs: []string{"https://api.deepseek.com/beta"}, Continuation: "prefix"}}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got %+v\nwant %+v", h, want)
	}
	for _, bad := range []string{"llm_router {\n resume\n}", "llm_router {\n hedge_after\n}", "llm_router {\n resume x\n}",
		"llm_router {\n provider p {\n base_url http://x\n continuation\n }\n}"} {
		var h Handler
		if h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)) == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestContinuationDefaultsAndChecks(t *testing.T) {
	for _, tc := range []struct {
		api, cont, want, err string
	}{
		{"", "", catalog.ContinueNone, ""},
		{"anthropic", "", catalog.ContinueAnthropic, ""},
		{"anthropic", "none", catalog.ContinueNone, ""},
		{"", "prefix", catalog.ContinuePrefix, ""},
		{"azure", "continue_final_message", catalog.ContinueFinalMessage, ""},
		{"", "anthropic", "", "needs api anthropic"},
		{"anthropic", "prefix", "", "needs an OpenAI-compatible api"},
		{"gemini", "prefix", "", "needs an OpenAI-compatible api"},
		{"", "maybe", "", "continuation must be"},
	} {
		p := provider("p", "http://127.0.0.1:1/v1", nil, "m", "m-up")
		p.API, p.Continuation = tc.api, tc.cont
		if tc.api == "azure" {
			p.APIVersion = "v1"
		}
		h := &Handler{Providers: []catalog.ProviderConfig{p}}
		err := provisionErr(h)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s/%s: error %v, want %q", tc.api, tc.cont, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s/%s: %v", tc.api, tc.cont, err)
		case tc.err == "" && h.cat.Providers[0].Continuation != tc.want:
			t.Errorf("%s/%s: continuation %q, want %q", tc.api, tc.cont, h.cat.Providers[0].Continuation, tc.want)
		}
	}
	if err := provisionErr(&Handler{Resume: -1}); err == nil {
		t.Error("resume -1 provisioned")
	}
	if err := provisionErr(&Handler{HedgeAfter: -1}); err == nil {
		t.Error("a negative hedge_after provisioned")
	}
}
