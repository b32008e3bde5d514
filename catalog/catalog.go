package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmrouter/caddy-llm-router/transport"
)

// Catalog is the resolved, immutable view of every provider, target and public name. It is built
// once per config load; lookups are a single map access, whatever its size.
type Catalog struct {
	// Providers in config order, without the ones skipped for lack of keys.
	Providers []*Provider
	// Targets in config order: provider, then model, then key, then node.
	Targets []*Target
	// Models are the routable public models in config order, with their metadata.
	Models []*Model
	// Aliases are the routable aliases in config order.
	Aliases []*Route

	routes map[string]*Route
	// skipped are the providers skipped for lack of keys, declared every public model name a
	// provider declared (skipped or not), lost the aliases skipped with them: names the config
	// knows, though nothing serves them (Knows).
	skipped, declared, lost map[string]bool
}

// API is a provider's wire format.
type API string

// The wire formats a provider may speak.
const (
	APIOpenAI    API = "openai"
	APIAnthropic API = "anthropic"
	// APIGemini is Google's Gemini API: the model in the path
	// (`/models/{id}:generateContent`), the key in x-goog-api-key.
	APIGemini API = "gemini"
	// APIAzure is Azure OpenAI: OpenAI's bytes, the deployment (the upstream id) in the path
	// with an api-version query, or Azure's v1 API (`api_version v1`), the key in api-key.
	APIAzure API = "azure"
)

// DefaultAzureAPIVersion is the api-version sent to an `api azure` provider that names none:
// the newest generally available version of the deployments API.
const DefaultAzureAPIVersion = "2024-10-21"

// AzureV1 is the api_version that selects Azure's v1 API (`<base>/openai/v1/...`, the
// deployment named in the body's model, no api-version query).
const AzureV1 = "v1"

// Wire is the dialect of the provider's request and reply bodies: Azure OpenAI speaks
// OpenAI's.
func (a API) Wire() API {
	if a == APIAzure {
		return APIOpenAI
	}
	return a
}

// DefaultAnthropicVersion is the anthropic-version header sent when nobody chose one.
const DefaultAnthropicVersion = "2023-06-01"

// Provider is a provider that has at least one usable key (or needs none).
type Provider struct {
	Name string
	// API is the wire format the provider speaks.
	API API
	// AnthropicVersion is the anthropic-version header for an API Anthropic provider.
	AnthropicVersion string
	// APIVersion is an API Azure provider's api-version, or AzureV1.
	APIVersion string
	// Nodes are the base URLs, without a trailing slash.
	Nodes []string
	// KeyHeader is the canonical header name that carries the key.
	KeyHeader string
	// Bearer says whether the key is sent as "Bearer <key>".
	Bearer bool
	Weight int
	// SSEKeepEventNames and SSEKeepComments are the provider's stream filter overrides.
	SSEKeepEventNames, SSEKeepComments bool
	// StopAfterToolCalls says the provider's chat streams end a turn that called tools with
	// finish_reason "stop" where OpenAI's say "tool_calls", as Google's OpenAI-compatible
	// endpoint does (set for an `api openai` provider whose nodes are all on
	// generativelanguage.googleapis.com): the relay writes "tool_calls" for OpenAI clients,
	// whose agents stop at a "stop".
	StopAfterToolCalls bool
	// Continuation is how the provider continues a partial answer (ProviderConfig.Continuation,
	// its default resolved): one of the Continue constants.
	Continuation string
	// Responses says the provider serves the Responses API itself (ProviderConfig.Responses,
	// its default resolved).
	Responses bool
	// Serves are the endpoint families the provider serves (ProviderConfig.Serves, its
	// default resolved).
	Serves Capability
	// KeyCount is the number of distinct keys (0 for a keyless provider).
	KeyCount int
	// Transport is the provider's egress settings with placeholders resolved, or nil for the
	// defaults.
	Transport *transport.Config
	// Preset is the known service whose defaults the provider took ("" for none).
	Preset string
	// Wildcard says the provider serves `<name>/<any-upstream-id>` (`model *`), for up to
	// WildcardLimit distinct ids at once.
	Wildcard      bool
	WildcardLimit int
	// Discover is the provider's model discovery with defaults applied, or nil when off.
	Discover *DiscoverConfig
	// HealthCheck is the provider's active health check with defaults applied, or nil.
	HealthCheck *HealthCheckConfig
	// ResponseHeaderTimeout, FirstEventTimeout and StreamIdleTimeout are the provider's
	// overrides of the router's timeouts; 0 for the router's.
	ResponseHeaderTimeout, FirstEventTimeout, StreamIdleTimeout time.Duration

	// headers and query are the extra request headers and URL query, resolved: they may hold
	// secrets, so they are unexported and never printed.
	headers http.Header
	query   string
	secrets []string
	// keys are the provider's keys, for targets made on demand (wildcard ids).
	keys []providerKey
}

type providerKey struct{ key, fingerprint, stateID string }

// Target is the unit that is picked, cooled and retried: a provider node, a key and a model.
type Target struct {
	Provider *Provider
	// Node is the base URL this target sends to.
	Node string
	// Model is the public model name; Upstream is the provider's id for it.
	Model, Upstream string
	// Fingerprint identifies the key without revealing it: 8 hex digits of its SHA-256, or ""
	// for a keyless provider.
	Fingerprint string
	// Label names the target in headers, logs and pages: provider, node index and fingerprint.
	Label string
	// StateID identifies the target's health across config reloads: a hash of node URL, key and
	// upstream model, never the key itself.
	StateID string
	// KeyStateID identifies the key's health (shared by all its targets): a hash of provider and
	// key; "" for a keyless provider.
	KeyStateID string

	key string
}

// Key returns the target's API key ("" for a keyless provider). Callers must not log it.
func (t *Target) Key() string { return t.key }

// RouteKind says how a name resolved.
type RouteKind uint8

// Route kinds, in lookup precedence order.
const (
	KindAlias RouteKind = iota
	KindModel
	KindProviderModel
	KindUpstreamID
)

// Route is what a public name resolves to: the ordered targets that serve it.
type Route struct {
	Name    string
	Kind    RouteKind
	Targets []*Target
	// Strategy is the configured override for this name ("" means the router's default).
	Strategy string
	// Info is the model's metadata (nil for aliases); for provider/model and upstream-id routes
	// it is the public model's.
	Info *ModelInfo
	// Deferred are an alias's members that name no configured model but may name a discovered
	// one (a bare name while some provider discovers, or `<provider>/<id>` of a provider that
	// does): they are resolved against each discovered list, and Targets holds the rest.
	Deferred []string
}

// Model is a routable public model.
type Model struct {
	Info ModelInfo
	// Providers serving it, in config order.
	Providers []string
	Route     *Route
}

// Lookup resolves a client's model name: an alias, a public model name, `provider/model`, or an
// upstream id. It returns nil for an unknown name.
func (c *Catalog) Lookup(name string) *Route { return c.routes[name] }

// Resolver turns a key reference ({env.X}, {file.X}, or a literal) into its value.
type Resolver func(string) string

// CheckKeyReference refuses a key reference that resolution left as it was but that reads
// as a reference, not a key: `$NAME` or `env.NAME` (a shell's or a half-written placeholder),
// or one with braces (`{ENV.NAME}`, `{env.NAME` without its brace: a placeholder the
// replacer does not know). Taken literally, such a key is the reference's own text: a
// gateway key anyone who reads the config can send, or a provider key that is refused. The
// error quotes the reference, which by then is no secret.
func CheckKeyReference(ref, resolved string) error {
	if ref != resolved {
		return nil
	}
	r := strings.TrimSpace(ref)
	if strings.ContainsAny(r, "{}") || strings.HasPrefix(r, "$") || strings.HasPrefix(r, "env.") || strings.HasPrefix(r, "file.") {
		return fmt.Errorf("key reference %q is not a placeholder the config can resolve: write {env.NAME} or {file./path}", clip(r, 64))
	}
	return nil
}

// Build validates and merges configs and expands them into targets. Warnings are for the log:
// providers skipped because their keys resolved to nothing, and names that lost every target
// with them. Errors never contain a key.
func Build(resolve Resolver, configs ...Config) (*Catalog, []string, error) {
	b := builder{
		resolve:  resolve,
		cat:      &Catalog{routes: make(map[string]*Route), lost: make(map[string]bool)},
		skipped:  make(map[string]bool),
		declared: make(map[string]bool),
	}
	b.cat.skipped, b.cat.declared = b.skipped, b.declared
	if b.resolve == nil {
		b.resolve = func(s string) string { return s }
	}
	for _, cfg := range configs {
		for i := range cfg.Providers {
			if err := b.addProvider(&cfg.Providers[i]); err != nil {
				return nil, nil, err
			}
		}
	}
	var infos []ModelInfo
	var aliases []AliasConfig
	for _, cfg := range configs {
		infos = append(infos, cfg.Models...)
		aliases = append(aliases, cfg.Aliases...)
	}
	if err := b.indexModels(infos); err != nil {
		return nil, nil, err
	}
	if err := b.addAliases(aliases); err != nil {
		return nil, nil, err
	}
	return b.cat, b.warnings, nil
}

// LoadFile reads a JSON catalog file. Unknown fields are errors, so a typo does not silently
// drop a provider.
func LoadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading catalog: %w", err)
	}
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("catalog %s: %w", path, err)
	}
	// A stray '}' must not end the catalog early and silently drop what follows.
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, fmt.Errorf("catalog %s: unexpected data after the catalog object", path)
	}
	return cfg, nil
}

type builder struct {
	resolve  Resolver
	cat      *Catalog
	warnings []string
	// skipped holds providers skipped for lack of keys; declared holds every public model name a
	// provider declared, skipped or not, so a name that lost its providers is a warning, not an
	// "unknown name" error.
	skipped  map[string]bool
	declared map[string]bool
	names    map[string]bool
	// byModel collects each public model's targets in config order.
	byModel    map[string][]*Target
	modelOrder []string
	byProvider map[string]map[string][]*Target
	// wildMembers are the targets made for alias members of `model *` providers, by name.
	wildMembers map[string][]*Target
}

func (b *builder) addProvider(pc *ProviderConfig) error {
	if b.names == nil {
		b.names = make(map[string]bool)
		b.byModel = make(map[string][]*Target)
		b.byProvider = make(map[string]map[string][]*Target)
	}
	if pc.Name == "" {
		return errors.New("provider without a name")
	}
	if !validName(pc.Name) {
		return fmt.Errorf("provider %q: name may hold only letters, digits, '-', '_' and '.'", pc.Name)
	}
	if b.names[pc.Name] {
		return fmt.Errorf("provider %q defined twice", pc.Name)
	}
	b.names[pc.Name] = true
	withPreset, preset, err := applyPreset(pc)
	if err != nil {
		return err
	}
	presetURL := preset != nil && len(pc.BaseURLs) == 0
	pc = &withPreset
	if len(pc.BaseURLs) == 0 {
		return fmt.Errorf("provider %q: at least one base_url is required (or a preset: %s)",
			pc.Name, strings.Join(PresetNames(), ", "))
	}
	if presetURL && !preset.Keyless && len(pc.Keys) == 0 && pc.KeysFile == "" {
		return fmt.Errorf("provider %q: its service needs keys (keys or keys_file)", pc.Name)
	}
	p := &Provider{
		Name:              pc.Name,
		Preset:            presetName(preset, pc),
		Weight:            pc.Weight,
		SSEKeepEventNames: pc.SSEKeepEventNames,
		SSEKeepComments:   pc.SSEKeepComments,
		KeyHeader:         "Authorization",
		Bearer:            true,
	}
	if p.Weight <= 0 {
		p.Weight = 1
	}
	if pc.AnthropicVersion != "" && pc.API != string(APIAnthropic) {
		return fmt.Errorf("provider %q: anthropic_version needs api anthropic", pc.Name)
	}
	if pc.APIVersion != "" && pc.API != string(APIAzure) {
		return fmt.Errorf("provider %q: api_version needs api azure", pc.Name)
	}
	switch pc.API {
	case "", string(APIOpenAI):
		p.API = APIOpenAI
	case string(APIAnthropic):
		p.API, p.KeyHeader, p.Bearer = APIAnthropic, "X-Api-Key", false
		p.AnthropicVersion = pc.AnthropicVersion
		if p.AnthropicVersion == "" {
			p.AnthropicVersion = DefaultAnthropicVersion
		}
	case string(APIGemini):
		p.API, p.KeyHeader, p.Bearer = APIGemini, "X-Goog-Api-Key", false
	case string(APIAzure):
		p.API, p.KeyHeader, p.Bearer = APIAzure, "Api-Key", false
		p.APIVersion = pc.APIVersion
		if p.APIVersion == "" {
			p.APIVersion = DefaultAzureAPIVersion
		}
	default:
		return fmt.Errorf("provider %q: api must be openai, anthropic, gemini or azure, not %q", pc.Name, clip(pc.API, 64))
	}
	if p.Continuation, err = continuation(pc, p.API); err != nil {
		return err
	}
	if strings.EqualFold(pc.KeyHeader, "Authorization") {
		p.KeyHeader, p.Bearer = "Authorization", true
	} else if pc.KeyHeader != "" {
		p.KeyHeader = http.CanonicalHeaderKey(pc.KeyHeader)
		p.Bearer = false
	}
	if pc.Transport != nil {
		t, err := b.resolveTransport(pc.Transport)
		if err != nil {
			return fmt.Errorf("provider %q: transport: %w", pc.Name, err)
		}
		p.Transport = t
	}
	for _, raw := range pc.BaseURLs {
		node, err := parseNode(raw)
		if err != nil {
			return fmt.Errorf("provider %q: %w", pc.Name, err)
		}
		p.Nodes = append(p.Nodes, node)
	}
	p.StopAfterToolCalls = p.API == APIOpenAI && allOnHost(p.Nodes, "generativelanguage.googleapis.com")
	if p.Responses, err = servesResponses(pc, p); err != nil {
		return err
	}
	if err := resolveServes(pc, p); err != nil {
		return err
	}
	if err := b.extras(pc, p); err != nil {
		return err
	}
	if err := b.discoverAndProbe(pc, p); err != nil {
		return err
	}
	if len(pc.Models) == 0 && p.Discover == nil {
		return fmt.Errorf("provider %q: no models (list them with model, accept any id with model *, or discover them)", pc.Name)
	}
	if pc.WildcardLimit < 0 {
		return fmt.Errorf("provider %q: wildcard_limit must not be negative", pc.Name)
	}
	seen := make(map[string]bool, len(pc.Models))
	models := make([]ModelRoute, 0, len(pc.Models))
	for _, m := range pc.Models {
		if m.Name == "" {
			return fmt.Errorf("provider %q: model without a name", pc.Name)
		}
		if m.Name == Wildcard {
			if m.Upstream != "" && m.Upstream != Wildcard {
				return fmt.Errorf("provider %q: model * takes no upstream id", pc.Name)
			}
			if p.Wildcard {
				return fmt.Errorf("provider %q: model * listed twice", pc.Name)
			}
			p.Wildcard = true
			p.WildcardLimit = pc.WildcardLimit
			if p.WildcardLimit == 0 {
				p.WildcardLimit = DefaultWildcardLimit
			}
			continue
		}
		models = append(models, m)
		if seen[m.Name] {
			return fmt.Errorf("provider %q: model %q listed twice", pc.Name, m.Name)
		}
		seen[m.Name] = true
		b.declared[m.Name] = true
	}
	pc.Models = models

	keys, err := b.providerKeys(pc)
	if err != nil {
		return fmt.Errorf("provider %q: %w", pc.Name, err)
	}
	hasRefs := len(pc.Keys) > 0 || pc.KeysFile != ""
	if hasRefs && len(keys) == 0 {
		b.skipped[pc.Name] = true
		// Every reference resolved to nothing, so none is a literal key: they can be named,
		// which tells the operator which variable or file to set.
		refs := make([]string, 0, len(pc.Keys)+1)
		for _, r := range pc.Keys {
			refs = append(refs, clip(r, 64))
		}
		if pc.KeysFile != "" {
			refs = append(refs, "keys_file "+clip(pc.KeysFile, 64))
		}
		b.warnings = append(b.warnings, fmt.Sprintf("provider %q skipped: its keys resolved to nothing (%s is empty or unset)",
			pc.Name, strings.Join(refs, ", ")))
		return nil
	}
	p.KeyCount = len(keys)
	if len(keys) == 0 {
		keys = []string{""} // keyless: one target per node and model
	}

	type keyInfo struct{ key, fingerprint, stateID string }
	kinfo := make([]keyInfo, len(keys))
	for i, k := range keys {
		kinfo[i].key = k
		if k != "" {
			sum := sha256.Sum256([]byte(k))
			kinfo[i].fingerprint = hex.EncodeToString(sum[:4])
			kinfo[i].stateID = hashID("key", p.Name, k)
		}
	}

	b.cat.Providers = append(b.cat.Providers, p)
	for _, k := range kinfo {
		p.keys = append(p.keys, providerKey(k))
	}
	perModel := make(map[string][]*Target, len(pc.Models))
	b.byProvider[p.Name] = perModel
	for _, m := range pc.Models {
		up := m.Upstream
		if up == "" {
			up = m.Name
		}
		for _, k := range kinfo {
			for ni, node := range p.Nodes {
				t := &Target{
					Provider:    p,
					Node:        node,
					Model:       m.Name,
					Upstream:    up,
					Fingerprint: k.fingerprint,
					Label:       targetLabel(p.Name, ni, k.fingerprint),
					StateID:     hashID("target", node, k.key, up),
					KeyStateID:  k.stateID,
					key:         k.key,
				}
				b.cat.Targets = append(b.cat.Targets, t)
				perModel[m.Name] = append(perModel[m.Name], t)
			}
		}
		if _, ok := b.byModel[m.Name]; !ok {
			b.modelOrder = append(b.modelOrder, m.Name)
		}
		b.byModel[m.Name] = append(b.byModel[m.Name], perModel[m.Name]...)
	}
	return nil
}

// resolveTransport returns a copy of c with placeholders in its proxy URL and file paths
// resolved, checked. Errors never quote the resolved proxy URL, which may hold a password.
func (b *builder) resolveTransport(c *transport.Config) (*transport.Config, error) {
	r := *c
	r.NetworkProxy = b.resolve(c.NetworkProxy)
	r.TLSTrustedCACerts = make([]string, len(c.TLSTrustedCACerts))
	for i, f := range c.TLSTrustedCACerts {
		r.TLSTrustedCACerts[i] = b.resolve(f)
	}
	r.TLSClientCertificateFile = b.resolve(c.TLSClientCertificateFile)
	r.TLSClientCertificateKeyFile = b.resolve(c.TLSClientCertificateKeyFile)
	r.TLSServerName = b.resolve(c.TLSServerName)
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// providerKeys resolves and splits the key references, dropping duplicates.
func (b *builder) providerKeys(pc *ProviderConfig) ([]string, error) {
	var keys []string
	seen := make(map[string]bool)
	add := func(s string) {
		for _, k := range strings.FieldsFunc(s, isKeySeparator) {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	for _, ref := range pc.Keys {
		v := b.resolve(ref)
		if err := CheckKeyReference(ref, v); err != nil {
			return nil, err
		}
		add(v)
	}
	if pc.KeysFile != "" {
		path := b.resolve(pc.KeysFile)
		data, err := os.ReadFile(path)
		if err != nil {
			// The error names the reference, never its value (a key reference put in keys_file
			// by mistake resolves to the key) nor the file's content.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("keys_file %q: %w", pc.KeysFile, err)
		}
		for line := range strings.Lines(string(data)) {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			add(line)
		}
	}
	return keys, nil
}

// SupportNames are the capabilities a model's Supports may list (package route reads them).
var SupportNames = []string{"tools", "vision", "audio", "json_schema", "reasoning"}

func (b *builder) indexModels(infos []ModelInfo) error {
	infoByName := make(map[string]*ModelInfo, len(infos))
	for i := range infos {
		mi := &infos[i]
		if mi.Name == "" {
			return errors.New("model metadata without a name")
		}
		if infoByName[mi.Name] != nil {
			return fmt.Errorf("model %q: metadata given twice", mi.Name)
		}
		if mi.InputPrice < 0 || mi.OutputPrice < 0 || mi.ContextLength < 0 {
			return fmt.Errorf("model %q: prices and context length must not be negative", mi.Name)
		}
		// A misspelt capability is not harmless: a known supports list without `reasoning`
		// drops reasoning from every request to the model, and smart routing leaves it out of
		// requests that need what the list lacks.
		for _, s := range mi.Supports {
			if !slices.Contains(SupportNames, s) {
				return fmt.Errorf("model %q: supports: unknown capability %q; known: %s",
					mi.Name, clip(s, 64), strings.Join(SupportNames, ", "))
			}
		}
		switch mi.Tier {
		case "", "small", "medium", "large":
		default:
			return fmt.Errorf("model %q: unknown tier %q (want small, medium or large)", mi.Name, clip(mi.Tier, 64))
		}
		infoByName[mi.Name] = mi
		if _, served := b.byModel[mi.Name]; !served && !b.declared[mi.Name] {
			b.warnings = append(b.warnings, fmt.Sprintf("model %q has metadata but no provider serves it", mi.Name))
		}
	}

	// Public model names first, then provider/model names, then bare upstream ids, each only
	// where the name is still free: a public name always wins over an upstream id.
	for _, name := range b.modelOrder {
		m := &Model{Info: ModelInfo{Name: name}}
		if mi := infoByName[name]; mi != nil {
			m.Info = *mi
		}
		for _, p := range b.cat.Providers {
			if len(b.byProvider[p.Name][name]) > 0 {
				m.Providers = append(m.Providers, p.Name)
			}
		}
		m.Route = &Route{Name: name, Kind: KindModel, Targets: b.byModel[name], Strategy: m.Info.Strategy, Info: &m.Info}
		b.cat.routes[name] = m.Route
		b.cat.Models = append(b.cat.Models, m)
	}
	for _, m := range b.cat.Models {
		for _, pname := range m.Providers {
			targets := b.byProvider[pname][m.Info.Name]
			b.addRoute(pname+"/"+m.Info.Name, KindProviderModel, targets, m)
			b.addRoute(pname+"/"+targets[0].Upstream, KindProviderModel, targets, m)
		}
	}
	upstreams := make(map[string][]*Target)
	var upOrder []string
	upModel := make(map[string]*Model)
	for _, m := range b.cat.Models {
		for _, t := range m.Route.Targets {
			if _, ok := upstreams[t.Upstream]; !ok {
				upOrder = append(upOrder, t.Upstream)
				upModel[t.Upstream] = m
			}
			upstreams[t.Upstream] = append(upstreams[t.Upstream], t)
		}
	}
	for _, up := range upOrder {
		b.addRoute(up, KindUpstreamID, upstreams[up], upModel[up])
	}
	return nil
}

func (b *builder) addRoute(name string, kind RouteKind, targets []*Target, m *Model) {
	if _, taken := b.cat.routes[name]; taken {
		return
	}
	b.cat.routes[name] = &Route{Name: name, Kind: kind, Targets: targets, Strategy: m.Info.Strategy, Info: &m.Info}
}

func (b *builder) addAliases(aliases []AliasConfig) error {
	byName := make(map[string]*AliasConfig, len(aliases))
	for i := range aliases {
		a := &aliases[i]
		if a.Name == "" {
			return errors.New("alias without a name")
		}
		if byName[a.Name] != nil {
			return fmt.Errorf("alias %q defined twice", a.Name)
		}
		if r := b.cat.routes[a.Name]; (r != nil && r.Kind == KindModel) || b.declared[a.Name] {
			return fmt.Errorf("alias %q shadows a model of the same name", a.Name)
		}
		if len(a.Targets) == 0 {
			return fmt.Errorf("alias %q has no targets", a.Name)
		}
		byName[a.Name] = a
	}
	type expanded struct {
		targets  []*Target
		deferred []string
	}
	resolved := make(map[string]expanded, len(aliases))
	var expand func(a *AliasConfig, stack []string) (expanded, error)
	expand = func(a *AliasConfig, stack []string) (expanded, error) {
		if ex, ok := resolved[a.Name]; ok {
			return ex, nil
		}
		for _, s := range stack {
			if s == a.Name {
				return expanded{}, fmt.Errorf("alias %q refers to itself through %s", a.Name, strings.Join(stack, " -> "))
			}
		}
		stack = append(stack, a.Name)
		var out expanded
		seen := make(map[*Target]bool)
		for _, member := range a.Targets {
			var ts []*Target
			switch {
			case byName[member] != nil:
				inner, err := expand(byName[member], stack)
				if err != nil {
					return expanded{}, err
				}
				ts = inner.targets
				for _, d := range inner.deferred {
					if !slices.Contains(out.deferred, d) {
						out.deferred = append(out.deferred, d)
					}
				}
			case b.cat.routes[member] != nil:
				ts = b.cat.routes[member].Targets
			case b.wildcardTargets(member) != nil:
				ts = b.wildcardTargets(member)
			case b.lostWithSkippedProvider(member):
				b.warnings = append(b.warnings, fmt.Sprintf("alias %q: member %q has no usable provider", a.Name, member))
				continue
			case b.cat.mayBeDiscovered(member):
				if !slices.Contains(out.deferred, member) {
					out.deferred = append(out.deferred, member)
				}
				continue
			default:
				return expanded{}, fmt.Errorf("alias %q: unknown member %q", a.Name, member)
			}
			for _, t := range ts {
				if !seen[t] {
					seen[t] = true
					out.targets = append(out.targets, t)
				}
			}
		}
		resolved[a.Name] = out
		return out, nil
	}
	for i := range aliases {
		a := &aliases[i]
		ex, err := expand(a, nil)
		if err != nil {
			return err
		}
		if len(ex.targets) == 0 && len(ex.deferred) == 0 {
			b.warnings = append(b.warnings, fmt.Sprintf("alias %q skipped: none of its members has a usable provider", a.Name))
			b.cat.lost[a.Name] = true
			continue
		}
		r := &Route{Name: a.Name, Kind: KindAlias, Targets: ex.targets, Strategy: a.Strategy, Deferred: ex.deferred}
		// An alias wins over a provider/model or upstream id of the same name.
		b.cat.routes[a.Name] = r
		b.cat.Aliases = append(b.cat.Aliases, r)
	}
	return nil
}

// wildcardTargets are the targets of name as `<provider>/<id>` of a `model *` provider, made
// on the first call and then kept, or nil. They join the catalog's targets: an alias member
// is then a target like a listed model's, with the state of the same id sent as a wildcard.
func (b *builder) wildcardTargets(name string) []*Target {
	if ts, ok := b.wildMembers[name]; ok {
		return ts
	}
	prefix, id, _ := strings.Cut(name, "/")
	for _, p := range b.cat.Providers {
		if p.Name == prefix && p.Wildcard && CheckUpstreamID(id) == nil {
			ts := p.WildcardTargets(id)
			if b.wildMembers == nil {
				b.wildMembers = make(map[string][]*Target)
			}
			b.wildMembers[name] = ts
			b.cat.Targets = append(b.cat.Targets, ts...)
			return ts
		}
	}
	return nil
}

// mayBeDiscovered reports whether name, which no configured model has, may name a discovered
// one: `<provider>/<id>` of a provider that discovers, or another name (ids have slashes of
// their own) while any provider does.
func (c *Catalog) mayBeDiscovered(name string) bool {
	prefix, _, _ := strings.Cut(name, "/")
	discovers := false
	for _, p := range c.Providers {
		if p.Name == prefix {
			return p.Discover != nil
		}
		discovers = discovers || p.Discover != nil
	}
	return discovers
}

// lostWithSkippedProvider reports whether name would have resolved had no provider been skipped.
func (b *builder) lostWithSkippedProvider(name string) bool {
	if b.declared[name] {
		return true
	}
	if p, _, ok := strings.Cut(name, "/"); ok && b.skipped[p] {
		return true
	}
	return false
}

// Knows reports whether the config knows name, though nothing may serve it now: a routable
// name; a model, alias or `<provider>/<id>` that lost its targets with a provider skipped for
// lack of keys; `<provider>/<id>` of a `model *` provider; or a name a discovered list may
// have. A name it does not know is a typo.
func (c *Catalog) Knows(name string) bool {
	if c.routes[name] != nil || c.declared[name] || c.lost[name] {
		return true
	}
	if prefix, id, ok := strings.Cut(name, "/"); ok {
		if c.skipped[prefix] {
			return true
		}
		for _, p := range c.Providers {
			if p.Name == prefix && p.Wildcard && CheckUpstreamID(id) == nil {
				return true
			}
		}
	}
	return c.mayBeDiscovered(name)
}

// Names returns every routable name, sorted; for tests and diagnostics.
func (c *Catalog) Names() []string {
	routes := c.Routes()
	names := make([]string, len(routes))
	for i, r := range routes {
		names[i] = r.Name
	}
	return names
}

func parseNode(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			// It may carry credentials (user:password@): do not echo it.
			return "", errors.New("base_url is not a valid URL")
		}
		return "", fmt.Errorf("base_url %q: %w", raw, err)
	}
	// Before any check that quotes raw, which would print the credentials.
	if u.User != nil {
		return "", errors.New("base_url must not carry credentials: use keys")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("base_url %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("base_url %q: missing host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		// Quote it without the query: some APIs take the key there (?key=).
		return "", fmt.Errorf("base_url %q: must not have a query or fragment", u.Scheme+"://"+u.Host+u.EscapedPath())
	}
	return strings.TrimRight(raw, "/"), nil
}

func isKeySeparator(r rune) bool {
	return r == ' ' || r == ',' || r == '\n' || r == '\r' || r == '\t' || r == ';'
}

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return s != ""
}

func targetLabel(provider string, node int, fingerprint string) string {
	label := provider + "#" + strconv.Itoa(node)
	if fingerprint != "" {
		label += "/" + fingerprint
	}
	return label
}

// hashID hashes its parts with separators, so no part (a key above all) can be read back and
// ("ab","c") differs from ("a","bc").
func hashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// servesResponses resolves a provider's responses setting: the configured value, else on for
// an OpenAI provider whose every node is OpenAI's own API.
func servesResponses(pc *ProviderConfig, p *Provider) (bool, error) {
	if pc.Responses != nil {
		if *pc.Responses && p.API != APIOpenAI {
			return false, fmt.Errorf("provider %q: responses needs api openai", pc.Name)
		}
		return *pc.Responses, nil
	}
	if p.API != APIOpenAI {
		return false, nil
	}
	for _, n := range p.Nodes {
		u, err := url.Parse(n)
		if err != nil || !strings.EqualFold(u.Hostname(), "api.openai.com") {
			return false, nil
		}
	}
	return true, nil
}
