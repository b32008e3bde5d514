package selector

import (
	"strings"
	"testing"
)

// Bodies as providers send them (ids and numbers shortened).
const (
	openAIQuota = `{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`
	openAIRate  = `{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2.002s. Visit https://platform.openai.com/account/rate-limits to learn more. You can increase your rate limit by adding a payment method to your account at https://platform.openai.com/account/billing.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`
	geminiRate  = `{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 15, model: gemini-2.0-flash\nPlease retry in 36.6s.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
      {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
    ]
  }
}`
	geminiBadKey      = `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`
	anthropicOverload = `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`
	anthropicRate     = `{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 50,000 input tokens per minute."}}`
	anthropicCredit   = `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}`
	groqRate          = `{"error":{"message":"Rate limit reached for model ` + "`llama-3.3-70b-versatile`" + ` in organization ` + "`org_01`" + ` service tier ` + "`on_demand`" + ` on tokens per minute (TPM): Limit 6000, Used 5800, Requested 1200. Please try again in 7.66s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing","type":"tokens","code":"rate_limit_exceeded"}}`
	openRouterCredits = `{"error":{"message":"Insufficient credits. Add more using https://openrouter.ai/settings/credits","code":402}}`
	pydanticEcho      = `{"detail":[{"type":"float_parsing","loc":["body","temperature"],"msg":"Input should be a valid number, unable to parse string as a number","input":"quota exceeded"}]}`
	badRequest        = `{"error":{"message":"Invalid 'messages[0].content': string too long.","type":"invalid_request_error","param":"messages[0].content","code":"string_above_max_length"}}`
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		retryAfter bool
		want       Class
	}{
		{"200", 200, `{"id":"x"}`, false, Success},
		{"204", 204, "", false, Success},
		{"openai 429 insufficient_quota", 429, openAIQuota, false, KeyRefused},
		{"openai 429 insufficient_quota with Retry-After", 429, openAIQuota, true, KeyRefused},
		{"openai 429 rate_limit_exceeded mentions billing", 429, openAIRate, false, RateLimited},
		{"gemini 429 per-minute quota with retryDelay", 429, geminiRate, false, RateLimited},
		{"vertex 429 resource exhausted", 429, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`, false, RateLimited},
		{"groq 429 try again in", 429, groqRate, false, RateLimited},
		{"anthropic 429", 429, anthropicRate, true, RateLimited},
		{"429 empty body", 429, "", false, RateLimited},
		{"429 billing limit, no rate sign", 429, `{"error":{"message":"You have reached your monthly BILLING limit."}}`, false, KeyRefused},
		{"429 out of credit, with Retry-After", 429, `{"error":"no credit left"}`, true, RateLimited},
		{"anthropic 529 overloaded", 529, anthropicOverload, false, UpstreamDown},
		{"503 with Retry-After", 503, "", true, RateLimited},
		{"503 without Retry-After", 503, "Service Unavailable", false, UpstreamDown},
		{"500", 500, `{"error":{"message":"internal"}}`, false, UpstreamDown},
		{"502 with Retry-After", 502, "", true, UpstreamDown},
		{"504", 504, "", false, UpstreamDown},
		{"408", 408, "", false, UpstreamDown},
		{"401", 401, `{"error":{"message":"Incorrect API key provided"}}`, false, KeyRefused},
		{"402 openrouter", 402, openRouterCredits, false, KeyRefused},
		{"403", 403, "", false, KeyRefused},
		// A 4xx other than 401/402/403/429 refuses the key only in a structured field.
		{"anthropic 400 credit balance is prose only: the client's error", 400, anthropicCredit, false, ClientError},
		{"gemini 400 bad key: details[].reason", 400, geminiBadKey, false, KeyRefused},
		{"gemini 400 bad key in an array", 400, "[" + geminiBadKey + "]", false, KeyRefused},
		{"400 error.code", 400, `{"error":{"message":"x","code":"insufficient_quota"}}`, false, KeyRefused},
		{"400 error.type", 400, `{"error":{"message":"x","type":"billing_error"}}`, false, KeyRefused},
		{"400 error.status", 400, `{"error":{"code":400,"message":"x","status":"PERMISSION_DENIED"}}`, false, KeyRefused},
		{"400 error.code upper case", 400, `{"error":{"code":"INSUFFICIENT_QUOTA"}}`, false, KeyRefused},
		{"400 numeric code is no refusal", 400, `{"error":{"message":"quota exceeded","code":400}}`, false, ClientError},
		{"400 plain", 400, badRequest, false, ClientError},
		{"400 echoing a word a client wrote", 400, `{"detail":"invalid tool name 'billing_credit_quota'"}`, false, ClientError},
		{"400 refusal phrases in the message only", 400, `{"error":{"message":"quota exceeded; api key not valid; insufficient_quota; API_KEY_INVALID","type":"invalid_request_error"}}`, false, ClientError},
		{"400 refusal value inside the message, not the field", 400, `{"error":{"message":"insufficient_quota","type":"invalid_request_error","code":"bad_value"}}`, false, ClientError},
		{"400 refusal value deeper than the error object", 400, `{"error":{"type":"invalid_request_error","param":{"code":"insufficient_quota"}}}`, false, ClientError},
		{"400 refusal value outside the error object", 400, `{"code":"insufficient_quota","type":"insufficient_quota","request":{"error":"x"}}`, false, ClientError},
		{"400 a refusal value as a substring of a code", 400, `{"error":{"code":"not_insufficient_quota_really"}}`, false, ClientError},
		{"400 error is a string", 400, `{"error":"insufficient_quota"}`, false, ClientError},
		{"422 pydantic echo", 422, pydanticEcho, false, ClientError},
		{"422 pydantic echo of a whole error object", 422, `{"detail":[{"type":"extra_forbidden","loc":["body","error"],"msg":"Extra inputs are not permitted","input":{"code":"insufficient_quota","type":"insufficient_quota","status":"PERMISSION_DENIED","details":[{"reason":"API_KEY_INVALID"}]}}]}`, false, ClientError},
		{"404", 404, `{"error":{"message":"The model does not exist"}}`, false, ClientError},
		{"422", 422, `{"detail":[{"msg":"field required"}]}`, false, ClientError},
		{"413", 413, "", false, ClientError},
		{"no reply", 0, "", false, UpstreamDown},
		{"301", 301, "", false, UpstreamDown},
		{"101", 101, "", false, UpstreamDown},
		{"600", 600, "", false, UpstreamDown},
		{"negative", -1, "", false, UpstreamDown},
		{"structured refusal past the scan limit", 400, `{"pad":"` + strings.Repeat(" ", maxScan) + `","error":{"code":"insufficient_quota"}}`, false, ClientError},
		{"not JSON", 400, `INSUFFICIENT_QUOTA`, false, ClientError},
		{"429 case-insensitive", 429, `INSUFFICIENT_QUOTA`, false, KeyRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte // nil for "", as the handler passes when there was no reply
			if tt.body != "" {
				body = []byte(tt.body)
			}
			if got := Classify(tt.status, body, tt.retryAfter); got != tt.want {
				t.Errorf("Classify(%d, %.60q, %v) = %v, want %v", tt.status, tt.body, tt.retryAfter, got, tt.want)
			}
		})
	}
}

func TestClassStringAndRetryable(t *testing.T) {
	tests := []struct {
		c         Class
		name      string
		retryable bool
	}{
		{Success, "success", false},
		{ClientError, "client_error", false},
		{RateLimited, "rate_limited", true},
		{KeyRefused, "key_refused", true},
		{UpstreamDown, "upstream_down", true},
		{ClientGone, "client_gone", false},
		{Class(42), "class(42)", false},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.name {
			t.Errorf("Class(%d).String() = %q, want %q", tt.c, got, tt.name)
		}
		if got := tt.c.Retryable(); got != tt.retryable {
			t.Errorf("%v.Retryable() = %v, want %v", tt.c, got, tt.retryable)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, b := range []string{openAIQuota, openAIRate, geminiRate, groqRate, anthropicCredit, anthropicOverload, ""} {
		for _, st := range []int{0, 200, 400, 402, 429, 503, 529} {
			f.Add(st, []byte(b), st == 503)
		}
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter bool) {
		c := Classify(status, body, retryAfter)
		if c >= ClientGone {
			t.Fatalf("Classify(%d, ...) = %v: out of range", status, c)
		}
		if (status >= 200 && status < 300) != (c == Success) {
			t.Fatalf("Classify(%d, ...) = %v", status, c)
		}
		if (status >= 500 && status < 600 || status < 100) && !c.Retryable() {
			t.Fatalf("Classify(%d, ...) = %v, want retryable", status, c)
		}
	})
}

// KeyInvalid tells a refusal of the key itself from one of its quota, whatever the status.
func TestKeyInvalid(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   bool
	}{
		{401, "", true},
		{403, "", true},
		{400, geminiBadKey, true},
		{400, `{"error":{"code":"invalid_api_key"}}`, true},
		{400, openAIQuota, false},
		{400, `{"error":{"code":"billing_not_active"}}`, false},
		{402, `{"error":{"code":"invalid_api_key"}}`, false},
		{429, geminiBadKey, false},
		{400, `{"error":{"message":"API_KEY_INVALID"}}`, false}, // prose, not a structured field
		{500, geminiBadKey, false},
	} {
		if got := KeyInvalid(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("KeyInvalid(%d, %.60s) = %v, want %v", tc.status, tc.body, got, tc.want)
		}
	}
}
