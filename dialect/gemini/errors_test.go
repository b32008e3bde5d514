package gemini

import (
	"strings"
	"testing"
	"time"
)

func TestParseErrorAndFaults(t *testing.T) {
	body := `{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}`
	for _, b := range []string{body, "[" + body + "]", " \n[" + body + "]\n"} {
		e, ok := ParseError([]byte(b))
		if !ok || e.Code != 400 || e.Status != StatusInvalidArgument || len(e.Reasons) != 1 || e.Reasons[0] != ReasonAPIKeyInvalid || e.RetryDelay != 1500*time.Millisecond {
			t.Fatalf("%s: %+v %v", b, e, ok)
		}
		if FaultOf(e) != FaultKey || !Retryable(e) {
			t.Fatalf("API_KEY_INVALID is a key refusal")
		}
		if !strings.Contains(e.Error(), "INVALID_ARGUMENT") {
			t.Fatal(e.Error())
		}
	}
	for _, b := range []string{`{}`, `[]`, `{"error":null}`, `nope`, `{"candidates":[]}`} {
		if _, ok := ParseError([]byte(b)); ok {
			t.Errorf("%s parsed as an error", b)
		}
	}
	if e, _ := ParseError([]byte(`{"error":{"code":503,"message":"x"}}`)); e.Status != StatusUnavailable {
		t.Fatalf("status from code: %+v", e)
	}
	for status, want := range map[string]Fault{
		StatusResourceExhausted: FaultRateLimit, StatusUnavailable: FaultUpstream, StatusInternal: FaultUpstream, StatusDeadlineExceeded: FaultUpstream,
		StatusUnauthenticated: FaultKey, StatusPermissionDenied: FaultKey, StatusInvalidArgument: FaultClient, StatusFailedPrecondition: FaultClient,
		StatusNotFound: FaultClient, "SOMETHING_NEW": FaultUpstream,
	} {
		if got := FaultOf(Error{Status: status}); got != want {
			t.Errorf("FaultOf(%s) = %d, want %d", status, got, want)
		}
		if Retryable(Error{Status: status}) != (want != FaultClient) {
			t.Errorf("Retryable(%s)", status)
		}
	}
	if FaultOf(Error{Code: 429}) != FaultRateLimit {
		t.Error("fault from code")
	}
}

func TestStatusNames(t *testing.T) {
	for code, want := range map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 413: "INVALID_ARGUMENT",
		429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED", 418: "INVALID_ARGUMENT", 599: "INTERNAL"} {
		if got := StatusName(code); got != want {
			t.Errorf("StatusName(%d) = %s, want %s", code, got, want)
		}
	}
	for _, s := range []string{"INVALID_ARGUMENT", "UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND", "RESOURCE_EXHAUSTED", "CANCELLED", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"} {
		if StatusName(HTTPStatus(s)) != s {
			t.Errorf("HTTPStatus(%s) = %d does not map back", s, HTTPStatus(s))
		}
	}
	jsonEq(t, string(AppendErrorBody(nil, 404, `no "model"`)), `{"error":{"code":404,"message":"no \"model\"","status":"NOT_FOUND"}}`)
}

func TestErrorBodiesAcrossDialects(t *testing.T) {
	jsonEq(t, string(ErrorBodyToOpenAI(429, []byte(`{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`))),
		`{"error":{"message":"quota","type":"rate_limit_error","code":"rate_limit_exceeded"}}`)
	jsonEq(t, string(ErrorBodyToOpenAI(400, []byte(`[{"error":{"code":400,"message":"bad key","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}]`))),
		`{"error":{"message":"bad key","type":"authentication_error","code":"invalid_api_key"}}`)
	jsonEq(t, string(ErrorBodyToOpenAI(400, []byte(`{"error":{"code":400,"message":"","status":"FAILED_PRECONDITION"}}`))),
		`{"error":{"message":"Bad Request","type":"invalid_request_error","code":"failed_precondition"}}`)
	if ErrorBodyToOpenAI(500, []byte(`<html>`)) != nil || ErrorBodyFromOpenAI(500, []byte(`{"x":1}`)) != nil {
		t.Fatal("not an error body: want nil")
	}
	jsonEq(t, string(ErrorBodyFromOpenAI(401, []byte(`{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}`))),
		`{"error":{"code":401,"message":"Incorrect API key","status":"UNAUTHENTICATED"}}`)
	jsonEq(t, string(ErrorBodyFromOpenAI(503, []byte(`{"error":"busy"}`))), `{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}`)
}

func TestEstimateTokensAndModels(t *testing.T) {
	body := `{"systemInstruction":{"parts":[{"text":"12345678"}]},"contents":[{"role":"user","parts":[{"text":"abcd"},{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]},
		{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":1}}}]}],"tools":[{"functionDeclarations":[{"name":"fn","description":"dd"}]}]}`
	n, err := EstimateTokens([]byte(body))
	// text 8+4, call 1+7, declaration 2+2 = 24 bytes: 6 tokens, + 1120 image + 2 turns x 4.
	if err != nil || n != 6+MediaTokens+8 {
		t.Fatalf("%d %v", n, err)
	}
	wrapped := `{"generate_content_request":{"model":"models/x",` + body[1:] + `}`
	if m, err := EstimateTokens([]byte(wrapped)); err != nil || m != n {
		t.Fatalf("wrapped: %d %v", m, err)
	}
	if _, err := EstimateTokens([]byte(`{"contents":3}`)); err == nil {
		t.Fatal("bad body counted")
	}
	if string(AppendCountTokens(nil, 42)) != `{"totalTokens":42}` {
		t.Fatal("count")
	}
	jsonEq(t, string(AppendModel(nil, "models/gemini-x", "")), `{"name":"models/gemini-x","baseModelId":"gemini-x","version":"001","displayName":"gemini-x","supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]}`)
	jsonEq(t, string(AppendModelList(nil, []Model{{ID: "a", DisplayName: "A", InputTokenLimit: 1000, OutputTokenLimit: 10}, {ID: "b"}})),
		`{"models":[{"name":"models/a","baseModelId":"a","version":"001","displayName":"A","inputTokenLimit":1000,"outputTokenLimit":10,"supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]},
		{"name":"models/b","baseModelId":"b","version":"001","displayName":"b","supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]}]}`)
	jsonEq(t, string(AppendModelList(nil, nil)), `{"models":[]}`)
}

func TestUsageOf(t *testing.T) {
	reply := `{"candidates":[{"content":{"parts":[{"text":"x \"usageMetadata\""}]}}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":3,"cachedContentTokenCount":4,"toolUsePromptTokenCount":2,"totalTokenCount":20}}`
	for _, in := range []string{reply, "data: " + reply + "\n\n", "[" + `{"usageMetadata":{"promptTokenCount":1}},` + reply + "]"} {
		u := UsageOf([]byte(in))
		if u.PromptTokens != 12 || u.CompletionTokens != 8 || u.TotalTokens != 20 || u.PromptTokensDetails.CachedTokens != 4 || u.CompletionTokensDetails.ReasoningTokens != 3 {
			t.Fatalf("%s: %+v", in, u)
		}
	}
	if u := UsageOf([]byte(`{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2}}`)); u.TotalTokens != 5 || u.PromptTokensDetails != nil {
		t.Fatalf("sum: %+v", u)
	}
	if u := UsageOf([]byte(`garbage`)); u.TotalTokens != 0 {
		t.Fatal(u)
	}
}
