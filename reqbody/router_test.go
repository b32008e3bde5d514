package reqbody

import "testing"

// TestScanRouterMember: Scan gives the span of the first top-level llm_router member, also
// under an escaped key, and nothing for a nested one.
func TestScanRouterMember(t *testing.T) {
	cases := []struct {
		body, member string
	}{
		{`{"model":"a","llm_router":{"tier":"large"}}`, `"llm_router":{"tier":"large"}`},
		{`{"llm_router" : null , "model":"a"}`, `"llm_router" : null`},
		{`{"model":"a","llm\u005frouter":{}}`, `"llm\u005frouter":{}`},
		{`{"model":"a","x":{"llm_router":{}}}`, ``},
		{`{"model":"a","llm_router":1,"llm_router":2}`, `"llm_router":1`},
	}
	for _, c := range cases {
		f, err := Scan([]byte(c.body))
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		if got := c.body[f.RouterKey:f.RouterEnd]; got != c.member {
			t.Errorf("%s: member %q, want %q", c.body, got, c.member)
		}
	}
}
