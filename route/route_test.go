package route

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// okHealth says every model is healthy but those named in cooling.
type okHealth struct{ cooling map[string]bool }

func (h okHealth) Status(m *Model) Reason {
	if h.cooling[m.Name] {
		return Cooling
	}
	return OK
}

// fixture: three models with known metadata and one with none.
func fixture() []*Model {
	ms := []*Model{
		{Name: "tiny", ContextLength: 16000, InputPrice: 0.05, OutputPrice: 0.1, Caps: JSONSchema, CapsKnown: true, Tier: Small, TierKnown: true},
		{Name: "mini", ContextLength: 128000, InputPrice: 0.15, OutputPrice: 0.6, Caps: Tools | Vision | JSONSchema, CapsKnown: true, Tier: Medium, TierKnown: true},
		{Name: "big", ContextLength: 200000, InputPrice: 3, OutputPrice: 15, Caps: Tools | Vision | JSONSchema | Reasoning, CapsKnown: true, Tier: Large, TierKnown: true},
	}
	for i, m := range ms {
		m.ID, m.Stats = i, new(Stats)
	}
	return ms
}

func chatBody(content string, extra string) []byte {
	c, _ := json.Marshal(content)
	return []byte(`{"model":"auto","messages":[{"role":"user","content":` + string(c) + `}]` + extra + `}`)
}

const imagePart = `{"model":"auto","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`

// TestDecideTable is requests -> expected selection for each goal, on the pure decision.
func TestDecideTable(t *testing.T) {
	long := strings.Repeat("lorem ipsum dolor sit amet ", 9000) // ~60k tokens
	hard := "Think step by step and prove the theorem, then:\n1. derive the bound\n2. write the Go func that checks it\n3. compare with the naive one"
	cases := []struct {
		name    string
		body    []byte
		goal    Goal
		tier    Tier
		cooling []string
		opts    *Options
		want    string
	}{
		{"cost plain", chatBody("hi", ""), Cost, TierAuto, nil, nil, "tiny"},
		{"cost tools", chatBody("hi", `,"tools":[{"type":"function","function":{"name":"f"}}]`), Cost, TierAuto, nil, nil, "mini"},
		{"cost image", []byte(imagePart), Cost, TierAuto, nil, nil, "mini"},
		{"cost json schema", chatBody("hi", `,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}}`), Cost, TierAuto, nil, nil, "tiny"},
		{"cost reasoning asked", chatBody("hi", `,"reasoning_effort":"high"`), Cost, TierAuto, nil, nil, "big"},
		{"cost 60k prompt", chatBody(long, ""), Cost, TierAuto, nil, nil, "mini"},
		{"cost hard prompt", chatBody(hard, ""), Cost, TierAuto, nil, nil, "big"},
		{"cost cooling", chatBody("hi", ""), Cost, TierAuto, []string{"tiny"}, nil, "mini"},
		{"cost fixed tier", chatBody("hi", ""), Cost, Medium, nil, nil, "mini"},
		{"cost request excludes", chatBody("hi", ""), Cost, TierAuto, nil, &Options{Exclude: []string{"tiny"}}, "mini"},
		{"cost request models", chatBody("hi", ""), Cost, TierAuto, nil, &Options{Models: []string{"big"}}, "big"},
		{"quality plain", chatBody("hi", ""), Quality, TierAuto, nil, nil, "big"},
		{"quality under price cap", chatBody("hi", ""), Quality, TierAuto, nil, &Options{MaxPricePerMTok: 1}, "mini"},
		{"quality 60k prompt", chatBody(long, ""), Quality, TierAuto, nil, nil, "big"},
		{"request goal", chatBody("hi", ""), Cost, TierAuto, nil, &Options{Optimize: "quality"}, "big"},
		{"request tier", chatBody("hi", ""), Cost, TierAuto, nil, &Options{Tier: "large"}, "big"},
		{"balanced plain", chatBody("hi", ""), Balanced, TierAuto, nil, nil, "tiny"},
		{"balanced hard", chatBody(hard, ""), Balanced, TierAuto, nil, nil, "big"},
		{"balanced tools", chatBody("hi", `,"tools":[{"type":"function","function":{"name":"f"}}]`), Balanced, TierAuto, nil, nil, "mini"},
		{"balanced 60k prompt", chatBody(long, ""), Balanced, TierAuto, nil, nil, "mini"},
		{"spread first turn", chatBody("hi", ""), Spread, TierAuto, nil, nil, "tiny"},
		{"latency unmeasured explores first", chatBody("hi", ""), Latency, TierAuto, nil, nil, "tiny"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &Router{Name: "auto", Goal: c.goal, Tier: c.tier, Candidates: fixture()}
			h := okHealth{cooling: map[string]bool{}}
			for _, n := range c.cooling {
				h.cooling[n] = true
			}
			req := Scan(OpenAIChat, c.body, false)
			var d Decision
			r.Decide(&d, &req, c.opts, h, 1)
			got := "none"
			if m := d.Selected(); m != nil {
				got = m.Name
			}
			if got != c.want {
				t.Fatalf("selected %s, want %s\n%s", got, c.want, d.AppendJSON(nil, "p"))
			}
			var x map[string]any
			if err := json.Unmarshal(d.AppendJSON(nil, "p"), &x); err != nil {
				t.Fatalf("explanation is not JSON: %v", err)
			}
			for _, n := range c.cooling {
				if !strings.Contains(string(d.AppendJSON(nil, "p")), `{"model":"`+n+`","reason":"cooling"}`) {
					t.Errorf("the explanation does not say %s is cooling: %s", n, d.AppendJSON(nil, "p"))
				}
			}
		})
	}
}

// TestLongPromptOnlyToLongContext: a ~60k-token prompt never goes to a model with a shorter
// context, whatever the goal, and the explanation says why it was out.
func TestLongPromptOnlyToLongContext(t *testing.T) {
	body := chatBody(strings.Repeat("lorem ipsum dolor sit amet ", 9000), "")
	req := Scan(OpenAIChat, body, false)
	if req.PromptTokens < 55000 || req.PromptTokens > 65000 {
		t.Fatalf("estimate %d tokens for ~60k", req.PromptTokens)
	}
	for _, g := range []Goal{Cost, Latency, Quality, Balanced, Spread} {
		for range 3 {
			r := &Router{Name: "auto", Goal: g, Tier: Small, Candidates: fixture()}
			var d Decision
			r.Decide(&d, &req, nil, okHealth{}, 1)
			for i := 0; i < d.NRanked; i++ {
				if d.Ranked[i].Model.ContextLength < req.PromptTokens {
					t.Fatalf("%s ranked %s (context %d)", g, d.Ranked[i].Model.Name, d.Ranked[i].Model.ContextLength)
				}
			}
			if d.NExcluded != 1 || d.Excluded[0].Model.Name != "tiny" || d.Excluded[0].Why != ContextTooShort {
				t.Fatalf("%s: excluded %+v", g, d.Excluded[:d.NExcluded])
			}
		}
	}
}

// TestUnknownCapabilitiesRankLower: a model with no capability metadata may take a tools
// request, but after every model known to have tools, even a dearer one.
func TestUnknownCapabilitiesRankLower(t *testing.T) {
	ms := fixture()
	ms = append([]*Model{{Name: "mystery", ID: 3, Tier: Medium, Stats: new(Stats)}}, ms...)
	r := &Router{Name: "auto", Goal: Cost, Candidates: ms}
	req := Scan(OpenAIChat, chatBody("hi", `,"tools":[{"type":"function","function":{"name":"f"}}]`), false)
	var d Decision
	r.Decide(&d, &req, nil, okHealth{}, 1)
	var order []string
	for i := 0; i < d.NRanked; i++ {
		order = append(order, d.Ranked[i].Model.Name)
	}
	if got := strings.Join(order, " "); got != "mini big mystery" {
		t.Fatalf("ranked %q, want mini big mystery", got)
	}
	// Without needs, the free model of unknown ability is simply the cheapest.
	req = Scan(OpenAIChat, chatBody("hi", ""), false)
	r.Decide(&d, &req, nil, okHealth{}, 1)
	if d.Selected().Name != "mystery" {
		t.Fatalf("selected %s", d.Selected().Name)
	}
}

func TestSpreadRoundRobin(t *testing.T) {
	r := &Router{Name: "all", Goal: Spread, Candidates: fixture()}
	req := Scan(OpenAIChat, chatBody("hi", ""), false)
	var got []string
	for range 4 {
		var d Decision
		r.Decide(&d, &req, nil, okHealth{}, 1)
		got = append(got, d.Selected().Name+">"+d.Ranked[1].Model.Name)
	}
	if s := strings.Join(got, " "); s != "tiny>mini mini>big big>tiny tiny>mini" {
		t.Fatalf("rotation %s", s)
	}
}

// TestLatencyFollowsMeasurements drives the stats by hand under a fake clock: the fastest
// measured model wins, an unmeasured one is explored once, stale numbers are refreshed.
func TestLatencyFollowsMeasurements(t *testing.T) {
	ms := fixture()
	r := &Router{Name: "fast", Goal: Latency, Candidates: ms}
	req := Scan(OpenAIChat, chatBody("hi", ""), false)
	now := int64(1e12)
	pick := func() string {
		var d Decision
		r.Decide(&d, &req, nil, okHealth{}, now)
		return d.Selected().Name
	}
	ms[0].Stats.Observe(now, 2, 100, 1)   // tiny: 2 s + 512/100
	ms[1].Stats.Observe(now, 0.2, 100, 1) // mini: 0.2 s + 512/100
	if got := pick(); got != "big" {
		t.Fatalf("unmeasured big was not explored first: %s", got)
	}
	if got := pick(); got != "mini" {
		t.Fatalf("after exploring, want the fastest measured (mini): %s", got)
	}
	ms[2].Stats.Observe(now, 0.1, 1000, 1) // big turns out fastest
	if got := pick(); got != "big" {
		t.Fatalf("want big after its measurement: %s", got)
	}
	for range 10 {
		ms[2].Stats.Observe(now, 9, 10, 1) // big slows down
	}
	if got := pick(); got != "mini" {
		t.Fatalf("want mini once big's average slowed: %s", got)
	}
	now += StaleAfter + 1
	if got := pick(); got != "tiny" { // every number is stale: the first is explored
		t.Fatalf("stale numbers not refreshed by exploration: %s", got)
	}
}

// TestTierRules pins the rules table: each rule's weight and the thresholds.
func TestTierRules(t *testing.T) {
	want := map[string]int{"long_prompt": 2, "very_long_prompt": 2, "code": 2, "math": 2, "reasoning_markers": 2,
		"reasoning_asked": 3, "multi_step": 2, "tools": 1, "json_schema": 1, "long_conversation": 1}
	if len(TierRules) != len(want) {
		t.Fatalf("%d rules, want %d", len(TierRules), len(want))
	}
	for _, r := range TierRules {
		if want[r.Name] != r.Weight {
			t.Errorf("rule %s weight %d, want %d", r.Name, r.Weight, want[r.Name])
		}
	}
	if MediumScore != 2 || LargeScore != 5 {
		t.Errorf("thresholds %d %d", MediumScore, LargeScore)
	}
	cases := []struct {
		body  string
		tier  Tier
		score int
	}{
		{"hello there", Small, 0},
		{"fix this python traceback", Medium, 2},
		{"explain why the sky is blue", Medium, 2},
		{"first do a, then b, then c, finally d", Medium, 2},
		{"refactor this func step by step", Medium, 4},
		{"prove it step by step in python", Large, 6},
	}
	for _, c := range cases {
		req := Scan(OpenAIChat, chatBody(c.body, ""), false)
		if tier, score := InferTier(&req); tier != c.tier || score != c.score {
			t.Errorf("%q: tier %s score %d, want %s %d", c.body, tier, score, c.tier, c.score)
		}
	}
	req := Scan(OpenAIChat, chatBody("hi", `,"tools":[{"type":"function","function":{"name":"f"}}],"response_format":{"type":"json_schema"}`), false)
	if tier, score := InferTier(&req); tier != Medium || score != 2 {
		t.Errorf("tools + schema: %s %d", tier, score)
	}
}

// TestScanDialects reads the same needs from each client dialect.
func TestScanDialects(t *testing.T) {
	cases := []struct {
		name   string
		d      Dialect
		body   string
		needs  Capability
		out    int
		stream bool
	}{
		{"openai tools image schema", OpenAIChat, `{"model":"a","stream":true,"max_tokens":100,"tools":[{"type":"function","function":{"name":"f"}}],"response_format":{"type":"json_schema"},"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, Tools | Vision | JSONSchema, 100, true},
		{"openai audio", OpenAIChat, `{"model":"a","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`, Audio, 0, false},
		{"anthropic", Anthropic, `{"model":"a","max_tokens":1024,"system":"be brief","thinking":{"type":"enabled","budget_tokens":2000},"tools":[{"name":"f","input_schema":{}}],"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}}]}]}`, Tools | Vision | Reasoning, 1024, false},
		{"responses", Responses, `{"model":"a","instructions":"x","max_output_tokens":50,"reasoning":{"effort":"high"},"text":{"format":{"type":"json_schema","name":"x","schema":{}}},"input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]}`, Vision | Reasoning | JSONSchema, 50, false},
		{"responses string", Responses, `{"model":"a","input":"hi","stream":true}`, 0, 0, true},
		{"gemini", Gemini, `{"contents":[{"role":"user","parts":[{"text":"hi"},{"inline_data":{"mime_type":"image/jpeg","data":"/9j/"}}]}],"tools":[{"functionDeclarations":[]}],"generationConfig":{"maxOutputTokens":77,"responseSchema":{"type":"object"},"thinkingConfig":{"thinkingBudget":1024}}}`, Tools | Vision | JSONSchema | Reasoning, 77, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Scan(c.d, []byte(c.body), false)
			if r.Needs != c.needs || r.OutputTokens != c.out || r.Stream != c.stream {
				t.Fatalf("needs %05b out %d stream %v, want %05b %d %v", r.Needs, r.OutputTokens, r.Stream, c.needs, c.out, c.stream)
			}
		})
	}
	// A big base64 image counts as one image, not as its bytes.
	img := `{"model":"a","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` + strings.Repeat("A", 400000) + `"}}]}]}`
	if r := Scan(OpenAIChat, []byte(img), false); r.PromptTokens > ImageTokens+100 {
		t.Fatalf("a base64 image estimated at %d tokens", r.PromptTokens)
	}
}

func TestScorecard(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	_ = os.WriteFile(good, []byte(`{"models":[{"name":"mini","tier":"large","scores":{"code":90,"general":70}}]}`), 0o600)
	sc, err := LoadScorecard(good)
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Name: "mini", Tier: Medium}
	sc.Models[0].Apply(m)
	if m.Tier != Large || m.Quality(Code) != 90 || m.Quality(Math) != 70 {
		t.Fatalf("applied: %+v", m)
	}
	known := &Model{Name: "mini", Tier: Small, TierKnown: true}
	sc.Models[0].Apply(known)
	if known.Tier != Small {
		t.Fatal("a scorecard overrode the model's configured tier")
	}
	for name, body := range map[string]string{
		"unknown field": `{"models":[],"x":1}`,
		"bad category":  `{"models":[{"name":"a","scores":{"poetry":1}}]}`,
		"bad score":     `{"models":[{"name":"a","scores":{"code":101}}]}`,
		"bad tier":      `{"models":[{"name":"a","tier":"huge"}]}`,
		"trailing":      `{"models":[]}{}`,
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
		_ = os.WriteFile(p, []byte(body), 0o600)
		if _, err := LoadScorecard(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestQualityByCategory: with scorecard scores, a code request goes to the best coder even if
// another model is better in general.
func TestQualityByCategory(t *testing.T) {
	ms := fixture()
	ms[1].SetScore(Code, 92)
	ms[2].SetScore(Code, 85)
	ms[2].SetScore(General, 95)
	r := &Router{Name: "best", Goal: Quality, Tier: Medium, Candidates: ms}
	for body, want := range map[string]string{"write a python func that sorts": "mini", "hello": "big"} {
		req := Scan(OpenAIChat, chatBody(body, ""), false)
		var d Decision
		r.Decide(&d, &req, nil, okHealth{}, 1)
		if got := d.Selected().Name; got != want {
			t.Errorf("%q: %s, want %s", body, got, want)
		}
	}
}

// BenchmarkDecide is the decision's cost for 400 candidates (requirements already read).
func BenchmarkDecide(b *testing.B) {
	for _, g := range []Goal{Cost, Latency, Quality, Balanced, Spread} {
		b.Run(g.String(), func(b *testing.B) {
			ms := make([]*Model, 400)
			for i := range ms {
				ms[i] = &Model{Name: fmt.Sprintf("model-%d", i), ID: i, ContextLength: 8192 << (i % 5), InputPrice: float64(i%37) / 10,
					OutputPrice: float64(i%41) / 5, Caps: Capability(i % 32), CapsKnown: i%7 != 0, Tier: Tier(1 + i%3), Stats: new(Stats)}
				ms[i].Stats.Observe(1, float64(i%13)/10+0.1, 100, float64(i%11)+1)
			}
			r := &Router{Name: "auto", Goal: g, Candidates: ms}
			req := Scan(OpenAIChat, chatBody("write a python func, step by step", `,"tools":[{"type":"function","function":{"name":"f"}}]`), false)
			var d Decision
			h := okHealth{}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r.Decide(&d, &req, nil, h, 2)
			}
			if d.Selected() == nil {
				b.Fatal("nothing selected")
			}
		})
	}
}

// BenchmarkScan is reading the requirements of a 4 KiB chat body.
func BenchmarkScan(b *testing.B) {
	body := chatBody(strings.Repeat("Please refactor this code and explain why. ", 100), `,"tools":[{"type":"function","function":{"name":"f"}}]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for range b.N {
		_ = Scan(OpenAIChat, body, false)
	}
}

// BenchmarkExplain is rendering the explanation object.
func BenchmarkExplain(b *testing.B) {
	r := &Router{Name: "auto", Goal: Cost, Candidates: fixture()}
	req := Scan(OpenAIChat, chatBody("hi", ""), false)
	var d Decision
	r.Decide(&d, &req, nil, okHealth{cooling: map[string]bool{"tiny": true}}, 1)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for range b.N {
		buf = d.AppendJSON(buf[:0], "p")
	}
}
