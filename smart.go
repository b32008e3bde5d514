package llmrouter

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/gate"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
	"github.com/llmrouter/caddy-llm-router/reqbody"
	vroute "github.com/llmrouter/caddy-llm-router/route"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// Smart routing: virtual models (router blocks and the smart/* built-ins) resolve, for each
// request, to one of their candidate models by the decision in package route; this file joins
// it to the handler: config, the request's instructions, pool health, fallback, the
// explanation in headers, replies and streams, and the latency measurements.

// smartState is a config's virtual models and what their decisions read.
type smartState struct {
	routers map[string]*vroute.Router
	// order is the virtual models in config order, for /v1/models.
	order []*vroute.Router
	// pools are the candidates' pools, by vroute.Model.ID.
	pools []*pool
	// stats are the latency measurements by public model name (every request to a model feeds
	// them, virtual or not).
	stats map[string]*vroute.Stats
	// chat are the candidates' targets whose provider serves chat (every endpoint a virtual
	// model serves), by route.Model.ID: their health is the pool's for a decision.
	chat [][]*target
	// scratch holds *smartScratch: one request's decision and health questions, reused.
	scratch sync.Pool
	// rebuildOnDiscovery says a candidate was left out for want of a pool, or is an alias with
	// discovered members: each discovered set builds the state again (discoveredRouters).
	rebuildOnDiscovery bool
}

// smartScratch is what one virtual model request's decision needs, pooled so that a decision
// allocates nothing.
type smartScratch struct {
	d      vroute.Decision
	health smartHealth
}

// provisionSmart builds the virtual models once the pools exist.
func (h *Handler) provisionSmart(resolve func(string) string) error {
	cfgs := append([]vroute.Config(nil), h.Routers...)
	if h.Smart != nil {
		cfgs = append(cfgs, h.Smart.Configs()...)
	}
	if len(cfgs) == 0 {
		return nil
	}
	// An exclude the config cannot know is a typo: left alone it would silently keep the
	// model it meant to remove.
	for _, c := range h.Routers {
		if n := h.unknownName(c.Exclude); n != "" {
			return fmt.Errorf("router %q: exclude: unknown model %q", c.Name, n)
		}
	}
	if h.Smart != nil {
		if n := h.unknownName(h.Smart.Exclude); n != "" {
			return fmt.Errorf("smart: exclude: unknown model %q", n)
		}
	}
	cards := make(map[string]*vroute.ScorecardModel)
	for _, path := range h.Scorecards {
		sc, err := vroute.LoadScorecard(resolve(path))
		if err != nil {
			return err
		}
		for i := range sc.Models {
			cards[sc.Models[i].Name] = &sc.Models[i]
		}
	}
	seen := make(map[string]bool, len(cfgs))
	for i := range cfgs {
		c := &cfgs[i]
		if err := c.Check(); err != nil {
			return err
		}
		if h.pools[c.Name] != nil || h.cat.Lookup(c.Name) != nil {
			return fmt.Errorf("router %q: the name is already a model, alias or provider/model name", c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("router %q: defined twice", c.Name)
		}
		seen[c.Name] = true
	}
	h.smartCfgs, h.smartCards = cfgs, cards
	s, err := h.buildSmart(h.namedPool, nil, true)
	h.smart = s
	return err
}

// buildSmart makes the virtual models over the pools that lookup finds for their candidates'
// names. prev are the measurements of an earlier build, kept for the models it had. A
// candidate lookup does not find is left out (logged when logMissing), and the state says
// so: a discovered list may have it later.
func (h *Handler) buildSmart(lookup func(string) *pool, prev map[string]*vroute.Stats, logMissing bool) (*smartState, error) {
	cards := h.smartCards
	s := &smartState{routers: make(map[string]*vroute.Router), stats: make(map[string]*vroute.Stats, len(prev))}
	for name, st := range prev {
		s.stats[name] = st
	}
	s.scratch.New = func() any { return new(smartScratch) }
	models := make(map[string]*vroute.Model)
	model := func(name string) (*vroute.Model, error) {
		if m := models[name]; m != nil {
			return m, nil
		}
		p := lookup(name)
		if p == nil {
			return nil, nil
		}
		if len(p.route.Deferred) > 0 {
			s.rebuildOnDiscovery = true
		}
		m := &vroute.Model{Name: name, ID: len(s.pools), Tier: vroute.Medium}
		statsName := name
		if info := p.route.Info; info != nil {
			statsName = info.Name
			if err := fillModel(m, info); err != nil {
				return nil, err
			}
			if sc := cards[info.Name]; sc != nil {
				sc.Apply(m)
			}
		}
		if sc := cards[name]; sc != nil && name != statsName {
			sc.Apply(m)
		}
		if m.Stats = s.stats[statsName]; m.Stats == nil {
			m.Stats = new(vroute.Stats)
			s.stats[statsName] = m.Stats
		}
		s.pools = append(s.pools, p)
		var chat []*target
		for _, t := range p.targets {
			if t.Provider.Serves.Has(catalog.CapChat) {
				chat = append(chat, t)
			}
		}
		s.chat = append(s.chat, chat)
		models[name] = m
		return m, nil
	}
	for i := range h.smartCfgs {
		c := &h.smartCfgs[i]
		r := &vroute.Router{Name: c.Name, MaxPrice: c.MaxPricePerMTok, Explain: c.Explain == nil || *c.Explain}
		r.Goal, _ = vroute.ParseGoal(c.Optimize)
		r.Tier, _ = vroute.ParseTier(c.Tier, true)
		names := c.Models
		if len(names) == 0 {
			for _, m := range h.cat.Models {
				names = append(names, m.Info.Name)
			}
		}
		for _, n := range names {
			if contains(c.Exclude, n) {
				continue
			}
			m, err := model(n)
			if err != nil {
				return nil, fmt.Errorf("router %q: %w", c.Name, err)
			}
			if m == nil {
				s.rebuildOnDiscovery = true
				if logMissing {
					h.logger.Warn("router candidate is not served by any provider: left out",
						zap.String("router", c.Name), zap.String("model", n))
				}
				continue
			}
			r.Candidates = append(r.Candidates, m)
		}
		s.routers[c.Name] = r
		s.order = append(s.order, r)
	}
	return s, nil
}

// smartNow is the virtual models a request decides by now: the last discovered set's, when
// their candidates include discovered models, or the config's.
func (h *Handler) smartNow() *smartState {
	if h.disc != nil {
		if set := h.disc.set.Load(); set != nil && set.smart != nil {
			return set.smart
		}
	}
	return h.smart
}

// fillModel copies the decision's part of a model's metadata.
func fillModel(m *vroute.Model, info *catalog.ModelInfo) error {
	m.ContextLength, m.MaxOutput = info.ContextLength, info.MaxOutput
	m.InputPrice, m.OutputPrice = info.InputPrice, info.OutputPrice
	for _, s := range info.Supports {
		if c, ok := vroute.ParseCapability(s); ok {
			m.Caps |= c
		}
	}
	m.CapsKnown = len(info.Supports) > 0
	if info.Tier != "" {
		t, err := vroute.ParseTier(info.Tier, false)
		if err != nil {
			return fmt.Errorf("model %q: %w", info.Name, err)
		}
		m.Tier, m.TierKnown = t, true
	}
	return nil
}

// unknownName is the first of names that the config does not know (see catalog.Knows), or "".
func (h *Handler) unknownName(names []string) string {
	for _, n := range names {
		if h.pools[n] == nil && !h.cat.Knows(n) {
			return n
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// smartEndpoint reports whether virtual models serve ep, and in which request dialect.
func smartEndpoint(ep *endpoint) (vroute.Dialect, bool) {
	switch ep {
	case chatEndpoint:
		return vroute.OpenAIChat, true
	case messagesEndpoint:
		return vroute.Anthropic, true
	case responsesEndpoint:
		return vroute.Responses, true
	case generateContentEndpoint:
		return vroute.Gemini, true
	}
	return 0, false
}

// smartRequest takes the request's routing instructions out of its body (the top-level
// llm_router object, cut out with a byte splice; every other byte stays) and, when the model
// is virtual, decides which model serves it. It returns the body and fields to forward, the
// decision and its pool (nil for a model that is not virtual); ok false means it has answered
// the client.
func (h *Handler) smartRequest(w http.ResponseWriter, r *http.Request, rt route, body []byte, f reqbody.Fields,
	client *gate.Client) (_ []byte, _ reqbody.Fields, sc *smartScratch, p *pool, ok bool) {
	ep := rt.ep
	dialect, served := smartEndpoint(ep)
	if !served || ep.body != bodyJSON {
		return body, f, nil, nil, true
	}
	var opts *vroute.Options
	if f.RouterEnd > 0 {
		start, end, v := instructionsSpan(body, &f)
		o, err := vroute.ParseOptions(v)
		if err != nil {
			writeError(w, ep.dialect, http.StatusBadRequest, errInvalidRequest, "invalid_llm_router", err.Error())
			return body, f, nil, nil, false
		}
		opts = &o
		cut := make([]byte, 0, len(body)-(end-start))
		body = append(append(cut, body[:start]...), body[end:]...)
		nf, err := scanBody(ep, r, body)
		if rt.model != "" {
			nf.Model, nf.Stream = f.Model, f.Stream
			err = nil
		}
		if err != nil { // cannot happen: a member of a valid object was cut
			writeError(w, ep.dialect, http.StatusBadRequest, errInvalidRequest, "invalid_json", err.Error())
			return body, f, nil, nil, false
		}
		f = nf
	}
	smart := h.smartNow()
	if smart == nil {
		return body, f, nil, nil, true
	}
	vr := smart.routers[f.Model]
	if vr == nil {
		return body, f, nil, nil, true
	}
	if ho, err := headerOptions(r.Header); err != nil {
		writeError(w, ep.dialect, http.StatusBadRequest, errInvalidRequest, "invalid_llm_router", err.Error())
		return body, f, nil, nil, false
	} else if ho != nil {
		if opts != nil { // the body's instructions win, field by field
			mergeOptions(ho, opts)
		}
		opts = ho
	}
	if !h.permit(w, ep.dialect, client, f.Model) {
		return body, f, nil, nil, false
	}
	req := vroute.Scan(dialect, body, f.Stream)
	sc = smart.scratch.Get().(*smartScratch)
	sc.health = smartHealth{s: smart, client: client, now: h.now().UnixNano(),
		native: ep == responsesEndpoint && needsStoredState(body)}
	vr.Decide(&sc.d, &req, opts, &sc.health, sc.health.now)
	m := sc.d.Selected()
	if m == nil {
		h.noCandidate(w, ep.dialect, &sc.d, smart.pools)
		smart.put(sc)
		return body, f, nil, nil, false
	}
	return body, f, sc, smart.pools[m.ID], true
}

// noCandidate answers a request no candidate could take: 503 when some were only cooling (a
// retry may find one back), with Retry-After when the first of them recovers; 400 when none
// fits the request at all. pools are the candidates' pools, by vroute.Model.ID.
func (h *Handler) noCandidate(w http.ResponseWriter, d sse.Dialect, dec *vroute.Decision, pools []*pool) {
	var b strings.Builder
	cooling := false
	now := h.now().UnixNano()
	var first int64 // the earliest recovery of a cooling candidate that fits
	for i := 0; i < dec.NExcluded; i++ {
		e := &dec.Excluded[i]
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.Model.Name + ": " + e.Why.String())
		if e.Why == vroute.Cooling {
			cooling = true
			if r := pools[e.Model.ID].sel.Recovery(now); r > now && (first == 0 || r < first) {
				first = r
			}
		}
	}
	if dec.ExcludedTotal > dec.NExcluded {
		fmt.Fprintf(&b, " and %d more", dec.ExcludedTotal-dec.NExcluded)
	}
	msg := fmt.Sprintf("no candidate of the virtual model %q can take this request (%s)", dec.Router.Name, b.String())
	if len(dec.Router.Candidates) == 0 {
		msg = fmt.Sprintf("the virtual model %q has no candidate model", dec.Router.Name)
	}
	if cooling {
		wait := h.runtime.cooldown // a cooling candidate beyond the listed exclusions
		if first > 0 {
			wait = time.Duration(first - now)
		}
		w.Header().Set("Retry-After", retryAfterSeconds(wait))
		writeError(w, d, http.StatusServiceUnavailable, errUpstream, "no_candidate_available", msg)
		return
	}
	writeError(w, d, http.StatusBadRequest, errInvalidRequest, "no_candidate_fits", msg)
}

// put gives a request's scratch back to the state it came from once the request is over.
func (s *smartState) put(sc *smartScratch) {
	sc.health = smartHealth{}
	s.scratch.Put(sc)
}

// smartHealth answers the decision's health questions for one request. Every API's providers
// serve the chat endpoints, so a pool's health is that of its targets whose provider serves
// chat.
type smartHealth struct {
	s      *smartState
	client *gate.Client
	now    int64
	native bool // the request needs a provider that serves the Responses API itself
}

func (s *smartHealth) Status(m *vroute.Model) vroute.Reason {
	if s.client != nil && !s.client.Allows(m.Name) {
		return vroute.NotAllowed
	}
	ts := s.s.chat[m.ID]
	if len(ts) == 0 || s.native && !s.s.pools[m.ID].servesNatively() {
		return vroute.Unserved
	}
	for _, t := range ts {
		if !t.cooling(s.now) {
			return vroute.OK
		}
	}
	return vroute.Cooling
}

// nextCandidate moves a virtual model's call to the next ranked candidate's pool after the
// current one failed (some attempt was made) or was exhausted (none could be).
func (c *call) nextCandidate(h *Handler, attempted bool) bool {
	d := c.smart
	if d == nil {
		return false
	}
	why := "exhausted"
	if attempted {
		why = "failed"
	}
	if !d.Next(why) {
		return false
	}
	c.p = c.rec.smart.health.s.pools[d.Selected().ID] // the state the decision was made in
	return true
}

// setSmartHeaders adds the route headers to a reply of a virtual model's call.
func (c *call) setSmartHeaders(hdr http.Header) {
	d := c.smart
	hdr["X-Llm-Router-Route"] = []string{d.Router.Name + " -> " + d.Selected().Name}
	hdr["X-Llm-Router-Route-Reason"] = []string{d.Reason()}
}

// explainWhole adds the explanation object to a whole JSON reply as its last top-level member,
// spliced in before the closing brace: the reply's own bytes are not re-encoded.
func (c *call) explainWhole(t *target, reply []byte) []byte {
	if c.smart == nil || !c.smart.Router.Explain {
		return reply
	}
	end := bytes.LastIndexByte(reply, '}')
	if end < 0 || len(bytes.TrimSpace(reply)) == 0 || bytes.TrimSpace(reply)[0] != '{' {
		return reply
	}
	out := make([]byte, 0, len(reply)+1024)
	out = append(out, reply[:end]...)
	if bytes.IndexByte(bytes.TrimSpace(reply[:end]), '"') >= 0 { // a member before it
		out = append(out, ',')
	}
	out = append(out, `"llm_router":`...)
	out = c.appendExplanation(out, t)
	return append(out, reply[end:]...)
}

// streamExplainer puts the explanation object in a stream's final chunk: a chunk of its own
// with `choices: []` just before OpenAI's `[DONE]`, a member of Anthropic's message_delta, a
// member of the Responses API's response.completed event.
type streamExplainer struct {
	c       *call
	t       *target
	dialect sse.Dialect
	// id, created and model are the raw values of the stream's first OpenAI chunk, repeated in
	// the explanation's chunk so that accumulating clients see one completion.
	id, created, model []byte
	seen, done         bool
}

func (c *call) streamExplainer(t *target) *streamExplainer {
	if c.smart == nil || !c.smart.Router.Explain || c.ep.dialect == sse.Gemini {
		return nil
	}
	return &streamExplainer{c: c, t: t, dialect: c.ep.dialect}
}

var (
	doneEvent          = []byte("data: [DONE]")
	messageDeltaEvent  = []byte("event: message_delta")
	responseCompleted  = []byte("event: response.completed")
	explanationPrefix  = []byte(`"llm_router":`)
	explainChunkPrefix = []byte(`data: {"id":`)
)

// event returns p with the explanation added, or nil when p is not the event for it.
func (x *streamExplainer) event(p []byte) []byte {
	if x.done {
		return nil
	}
	switch x.dialect {
	case sse.OpenAI:
		if !x.seen {
			if data, ok := sse.Data(p); ok && len(data) > 0 && data[0] == '{' {
				x.seen = true
				x.id = bytes.Clone(jsonscan.ObjectKey(data, "id"))
				x.created = bytes.Clone(jsonscan.ObjectKey(data, "created"))
				x.model = bytes.Clone(jsonscan.ObjectKey(data, "model"))
			}
		}
		i := eventAt(p, doneEvent)
		if i < 0 {
			return nil
		}
		x.done = true
		out := make([]byte, 0, len(p)+1200)
		out = append(out, p[:i]...)
		out = append(out, explainChunkPrefix...)
		out = appendRaw(out, x.id, `""`)
		out = append(out, `,"object":"chat.completion.chunk","created":`...)
		out = appendRaw(out, x.created, "0")
		out = append(out, `,"model":`...)
		out = appendRaw(out, x.model, `""`)
		out = append(out, `,"choices":[],`...)
		out = append(out, explanationPrefix...)
		out = x.c.appendExplanation(out, x.t)
		out = append(out, "}\n\n"...)
		return append(out, p[i:]...)
	case sse.Anthropic:
		return x.intoData(p, messageDeltaEvent)
	case sse.Responses:
		return x.intoData(p, responseCompleted)
	}
	return nil
}

// intoData splices the explanation into the data object of the event named by name in p.
func (x *streamExplainer) intoData(p, name []byte) []byte {
	i := eventAt(p, name)
	if i < 0 {
		return nil
	}
	j := bytes.Index(p[i:], []byte("\ndata:"))
	if j < 0 {
		return nil
	}
	j += i + 1
	eol := bytes.IndexByte(p[j:], '\n')
	if eol < 0 {
		return nil
	}
	eol += j
	brace := bytes.LastIndexByte(p[j:eol], '}')
	if brace < 0 {
		return nil
	}
	brace += j
	x.done = true
	out := make([]byte, 0, len(p)+1200)
	out = append(out, p[:brace]...)
	out = append(out, ',')
	out = append(out, explanationPrefix...)
	out = x.c.appendExplanation(out, x.t)
	return append(out, p[brace:]...)
}

// eventAt is the index in p of a line that starts with prefix, or -1.
func eventAt(p, prefix []byte) int {
	for off := 0; ; {
		i := bytes.Index(p[off:], prefix)
		if i < 0 {
			return -1
		}
		i += off
		if i == 0 || p[i-1] == '\n' {
			return i
		}
		off = i + 1
	}
}

func appendRaw(b, raw []byte, def string) []byte {
	if len(raw) == 0 {
		return append(b, def...)
	}
	return append(b, raw...)
}

// instructionsSpan is the span to cut to remove the llm_router member that Scan found (with
// the comma before it, or for the first member the one after it), and the member's value.
func instructionsSpan(body []byte, f *reqbody.Fields) (start, end int, val []byte) {
	start, end = f.RouterKey, f.RouterEnd
	closing := start + 1 + bytes.IndexByte(body[start+1:], '"') // the key holds no quote
	val = bytes.TrimSpace(body[closing+1+bytes.IndexByte(body[closing:], ':') : end])
	j := start - 1
	for j > 0 && isJSONSpace(body[j]) {
		j--
	}
	if body[j] == ',' {
		return j, end, val
	}
	for end < len(body) && isJSONSpace(body[end]) {
		end++
	}
	if end < len(body) && body[end] == ',' {
		end++
	}
	return start, end, val
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// headerOptions reads the X-LLM-Router-* request headers (the body's llm_router fields as
// headers; lists separated by commas or spaces); nil when there is none.
func headerOptions(h http.Header) (*vroute.Options, error) {
	if !hasRouterHeader(h) {
		return nil, nil
	}
	var o vroute.Options
	any := false
	if v := h.Get("X-Llm-Router-Optimize"); v != "" {
		o.Optimize, any = v, true
	}
	if v := h.Get("X-Llm-Router-Tier"); v != "" {
		o.Tier, any = v, true
	}
	if v := h.Get("X-Llm-Router-Models"); v != "" {
		o.Models, any = splitList(v), true
	}
	if v := h.Get("X-Llm-Router-Exclude"); v != "" {
		o.Exclude, any = splitList(v), true
	}
	if v := h.Get("X-Llm-Router-Max-Price-Per-Mtok"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("X-LLM-Router-Max-Price-Per-Mtok: not a number")
		}
		o.MaxPricePerMTok, any = f, true
	}
	if !any {
		return nil, nil
	}
	return &o, o.Check()
}

// hasRouterHeader reports whether h holds any X-LLM-Router-* header.
func hasRouterHeader(h http.Header) bool {
	for k := range h {
		if len(k) > 13 && k[:13] == "X-Llm-Router-" {
			return true
		}
	}
	return false
}

func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
}

// mergeOptions sets in dst every field that src sets.
func mergeOptions(dst, src *vroute.Options) {
	if src.Optimize != "" {
		dst.Optimize = src.Optimize
	}
	if src.Tier != "" {
		dst.Tier = src.Tier
	}
	if src.Models != nil {
		dst.Models = src.Models
	}
	if src.Exclude != nil {
		dst.Exclude = src.Exclude
	}
	if src.MaxPricePerMTok > 0 {
		dst.MaxPricePerMTok = src.MaxPricePerMTok
	}
}

// observeLatency feeds a successful single-attempt request to its model's measurements: time
// to first token (a whole reply's first token comes with all of it) and, for streams, output
// tokens per second after it.
func (h *Handler) observeLatency(rec *record, stream bool) {
	smart := h.smartNow()
	if smart == nil || rec.target == nil || rec.outcome != "success" || len(rec.attempts) > 0 || rec.ttfb <= 0 {
		return
	}
	st := smart.stats[rec.target.Model]
	if st == nil {
		return
	}
	now := h.now()
	gen := 0.0
	if stream {
		gen = (now.Sub(rec.start) - rec.ttfb).Seconds()
	}
	st.Observe(now.UnixNano(), rec.ttfb.Seconds(), rec.usage.output(), gen)
}

// virtualEntries are the /v1/models entries of the virtual models of s (nil: none).
func virtualEntries(s *smartState, created int64, createdAt string) []modelEntry {
	if s == nil {
		return nil
	}
	out := make([]modelEntry, 0, len(s.order))
	for _, r := range s.order {
		names := make([]string, len(r.Candidates))
		for i, m := range r.Candidates {
			names[i] = m.Name
		}
		out = append(out, modelEntry{ID: r.Name, Object: "model", Created: created, OwnedBy: "llm_router",
			Type: "model", DisplayName: r.Name, CreatedAt: createdAt, Serves: []string{"chat"},
			Description: fmt.Sprintf("Virtual model: for each request, picks one of %d models by %s (tier %s)",
				len(r.Candidates), goalPhrase(r.Goal), r.Tier),
			Router: &routerEntry{Optimize: r.Goal.String(), Tier: r.Tier.String(), Models: names}})
	}
	return out
}

// routerEntry describes a virtual model in /v1/models.
type routerEntry struct {
	Optimize string   `json:"optimize"`
	Tier     string   `json:"tier"`
	Models   []string `json:"models"`
}

func goalPhrase(g vroute.Goal) string {
	switch g {
	case vroute.Cost:
		return "the lowest cost"
	case vroute.Latency:
		return "the lowest measured latency"
	case vroute.Quality:
		return "the best scorecard quality"
	case vroute.Spread:
		return "round robin"
	}
	return "a blend of quality, cost and latency"
}

// forgetSmartSeries deletes the series of h's virtual models that no live handler has (see
// forgetSeries, which calls it with live locked).
func forgetSmartSeries(h *Handler) {
	if h.smart == nil {
		return
	}
	for name := range h.smart.routers {
		kept := false
		for o := range live.handlers {
			if o.smart != nil && o.smart.routers[name] != nil {
				kept = true
				break
			}
		}
		if !kept {
			requestsTotal.DeletePartialMatch(prometheus.Labels{"model": name})
			tokensTotal.DeletePartialMatch(prometheus.Labels{"model": name})
			costTotal.DeletePartialMatch(prometheus.Labels{"model": name})
			routeSelected.DeletePartialMatch(prometheus.Labels{"router": name})
		}
	}
}

// appendExplanation appends the decision's explanation object, with what hedging and resuming
// did to the stream when they did anything: "hedge" (the provider of the hedge and whether
// it won) and "resumed" (each continuation's provider, the client's events before the seam
// and the characters replayed). Provider names only, never a target label.
func (c *call) appendExplanation(out []byte, t *target) []byte {
	out = c.smart.AppendJSON(out, t.Provider.Name)
	n := &c.rec.notes
	if n.hedge.target == "" && len(n.resumes) == 0 {
		return out
	}
	out = out[:len(out)-1] // the object's closing brace
	if n.hedge.target != "" {
		out = append(out, `,"hedge":{"provider":`...)
		out = jsonstr.Append(out, labelProvider(n.hedge.target))
		out = append(out, `,"won":`...)
		// Written during the winner's stream, before the race is settled: the stream is the
		// hedge's when its target is the one writing.
		out = strconv.AppendBool(out, n.hedge.won || t.Label == n.hedge.target)
		out = append(out, '}')
	}
	if len(n.resumes) > 0 {
		out = append(out, `,"resumed":[`...)
		for i, r := range n.resumes {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"provider":`...)
			out = jsonstr.Append(out, labelProvider(r.target))
			out = append(out, `,"event":`...)
			out = strconv.AppendInt(out, int64(r.event), 10)
			out = append(out, `,"chars_replayed":`...)
			out = strconv.AppendInt(out, int64(r.replayed), 10)
			out = append(out, '}')
		}
		out = append(out, ']')
	}
	return append(out, '}')
}

// labelProvider is the provider part of a target label (provider#node/fingerprint).
func labelProvider(label string) string {
	if i := strings.IndexByte(label, '#'); i >= 0 {
		return label[:i]
	}
	return label
}
