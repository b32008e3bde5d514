package anthropic

import (
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
)

func TestErrorTypesAndStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		typ    string
		fault  Fault
	}{
		{400, ErrInvalidRequest, FaultClient},
		{401, ErrAuthentication, FaultKey},
		{402, ErrBilling, FaultKey},
		{403, ErrPermission, FaultKey},
		{404, ErrNotFound, FaultClient},
		{413, ErrRequestTooLarge, FaultClient},
		{429, ErrRateLimit, FaultRateLimit},
		{500, ErrAPI, FaultUpstream},
		{504, ErrTimeout, FaultUpstream},
		{529, ErrOverloaded, FaultUpstream},
	} {
		if got := ErrorType(tc.status); got != tc.typ {
			t.Errorf("ErrorType(%d) = %q, want %q", tc.status, got, tc.typ)
		}
		if got := Status(tc.typ); got != tc.status {
			t.Errorf("Status(%q) = %d, want %d", tc.typ, got, tc.status)
		}
		if got := FaultOf(tc.typ); got != tc.fault {
			t.Errorf("FaultOf(%q) = %d, want %d", tc.typ, got, tc.fault)
		}
		if Retryable(tc.typ) == (tc.fault == FaultClient) {
			t.Errorf("Retryable(%q) wrong", tc.typ)
		}
	}
	for status, typ := range map[int]string{422: ErrInvalidRequest, 409: ErrInvalidRequest, 503: ErrOverloaded, 502: ErrAPI, 0: ErrAPI} {
		if got := ErrorType(status); got != typ {
			t.Errorf("ErrorType(%d) = %q, want %q", status, got, typ)
		}
	}
	if Status("whatever") != 500 || FaultOf("whatever") != FaultUpstream {
		t.Errorf("unknown types must be the upstream's failure")
	}
	for typ, want := range map[string]string{ErrInvalidRequest: "invalid_request_error", ErrRateLimit: "rate_limit_error", ErrOverloaded: "server_error", ErrAuthentication: "authentication_error"} {
		if got := OpenAIErrorType(typ); got != want {
			t.Errorf("OpenAIErrorType(%q) = %q", typ, got)
		}
	}
}

func TestErrorBodyAndEvent(t *testing.T) {
	body := AppendErrorBody(nil, ErrOverloaded, "Overloaded \"now\"\n")
	jsonEq(t, string(body), `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded \"now\"\n"}}`)
	e, ok := ParseError(body)
	if !ok || e.Type != ErrOverloaded || e.Message != "Overloaded \"now\"\n" {
		t.Fatalf("ParseError = %+v, %v", e, ok)
	}
	if _, ok := ParseError([]byte(`{"id":"msg"}`)); ok {
		t.Errorf("ParseError of a message")
	}
	jsonEq(t, string(AppendErrorBody(nil, "", "x")), `{"type":"error","error":{"type":"api_error","message":"x"}}`)
	var apiErr sdk.ErrorResponse
	if err := apiErr.UnmarshalJSON(body); err != nil || apiErr.Error.Type != "overloaded_error" {
		t.Fatalf("SDK decode: %v %+v", err, apiErr)
	}
	evs := parseSSE(t, AppendErrorEvent(nil, ErrAPI, "cut"))
	if len(evs) != 1 || evs[0].Name != "error" {
		t.Fatalf("%+v", evs)
	}
	jsonEq(t, evs[0].Data, `{"type":"error","error":{"type":"api_error","message":"cut"}}`)
}

func TestErrorBodiesAcrossDialects(t *testing.T) {
	jsonEq(t, string(ErrorBodyFromOpenAI(429, []byte(`{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`))),
		`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`)
	jsonEq(t, string(ErrorBodyFromOpenAI(502, []byte(`<html>bad gateway</html>`))),
		`{"type":"error","error":{"type":"api_error","message":"Bad Gateway"}}`)
	jsonEq(t, string(ErrorBodyToOpenAI(529, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))),
		`{"error":{"message":"Overloaded","type":"server_error"}}`)
	jsonEq(t, string(ErrorBodyToOpenAI(400, []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}`))),
		`{"error":{"message":"max_tokens: required","type":"invalid_request_error"}}`)
	jsonEq(t, string(ErrorBodyToOpenAI(401, nil)), `{"error":{"message":"Unauthorized","type":"authentication_error"}}`)
}

func TestUsageMerge(t *testing.T) {
	var u Usage
	u.Merge([]byte(`{"input_tokens":25,"cache_creation_input_tokens":10,"cache_read_input_tokens":100,"output_tokens":1}`))
	u.Merge([]byte(`{"output_tokens":80}`))
	if u != (Usage{InputTokens: 25, OutputTokens: 80, CacheCreationInputTokens: 10, CacheReadInputTokens: 100}) {
		t.Fatalf("%+v", u)
	}
	p := u.Pivot()
	if p.PromptTokens != 135 || p.TotalTokens != 215 || p.PromptTokensDetails.CachedTokens != 100 || p.PromptTokensDetails.CacheWriteTokens != 10 {
		t.Fatalf("%+v", p)
	}
	if back := UsageFromPivot(p); back != u {
		t.Fatalf("round trip %+v", back)
	}
}
