package route

import (
	"bytes"

	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
)

// Dialect is the wire format of a request body.
type Dialect uint8

// Request dialects.
const (
	OpenAIChat Dialect = iota
	Anthropic
	Responses
	Gemini
)

// Category is what a request is about, the key of scorecard scores.
type Category uint8

// Categories, as scorecards name them.
const (
	General Category = iota
	Code
	Math
	Writing
	numCategories
)

var categoryNames = [numCategories]string{"general", "code", "math", "writing"}

func (c Category) String() string { return categoryNames[c] }

// ParseCategory reads a category's name.
func ParseCategory(s string) (Category, bool) {
	for i, n := range categoryNames {
		if n == s {
			return Category(i), true
		}
	}
	return 0, false
}

// Capability is a bit set of what a request needs beyond text, as model metadata names them.
type Capability uint8

// Capabilities. Their names are catalog.ModelInfo.Supports words.
const (
	Tools Capability = 1 << iota
	Vision
	Audio
	JSONSchema
	Reasoning
	numCaps = 5
)

var capNames = [numCaps]string{"tools", "vision", "audio", "json_schema", "reasoning"}

// ParseCapability reads one Supports word; ok is false for a word this package does not use.
func ParseCapability(s string) (Capability, bool) {
	for i, n := range capNames {
		if n == s {
			return 1 << i, true
		}
	}
	return 0, false
}

// Has reports whether every capability of o is in c.
func (c Capability) Has(o Capability) bool { return c&o == o }

// ImageTokens is what the estimate counts for one image, audio clip or document: about what
// providers bill for a mid-sized image.
const ImageTokens = 1600

// DefaultOutputTokens is the output the estimate assumes for a request that sets no limit.
const DefaultOutputTokens = 512

// tailSize is how much of the end of the conversation the markers are looked for in: the
// current instruction is there, and the scan stays bounded on long prompts.
const tailSize = 4 << 10

// Requirements are what a request needs of a model and the features the tier rules read.
type Requirements struct {
	// PromptTokens is the estimated input: text bytes / 4, ImageTokens per image, audio clip
	// or document, 4 per message.
	PromptTokens int
	// OutputTokens is the requested output limit (max_tokens and its dialects' names), 0 when
	// none was set.
	OutputTokens int
	// Needs are the capabilities the request uses.
	Needs Capability
	// Stream says the client asked for a stream.
	Stream bool
	// Messages is the number of turns.
	Messages int
	// Steps counts the instruction's numbered or bulleted lines and sequencing words.
	Steps int
	// Code, MathMarks and ReasoningMarks say whether the instruction looks like code, math or
	// asks for careful reasoning; Writing, whether it asks for prose.
	Code, MathMarks, ReasoningMarks, Writing bool
	// Category is what the request is about, from the markers.
	Category Category
}

// Output is the output the estimates count: the requested limit, or DefaultOutputTokens.
func (r *Requirements) Output() int {
	if r.OutputTokens > 0 {
		return r.OutputTokens
	}
	return DefaultOutputTokens
}

// Scan reads a request's requirements from its body in dialect d without decoding it. body must
// be valid JSON (the router has validated it). stream is what the router already knows of the
// request (the body's flag, or Gemini's URL).
func Scan(d Dialect, body []byte, stream bool) Requirements {
	var s scanner
	s.r.Stream = stream
	var conv []byte // the conversation value, for the tail markers
	for k, v, p, ok := jsonscan.Field(body, 0); ok; k, v, p, ok = jsonscan.Field(body, p) {
		switch string(k) {
		case "messages", "contents", "input":
			s.walk(v)
			conv = v
		case "system", "instructions", "systemInstruction", "system_instruction":
			s.walk(v)
			if conv == nil {
				conv = v
			}
		case "tools", "functions":
			if len(v) > 2 && v[0] == '[' {
				s.r.Needs |= Tools
				s.text += len(v) // schemas are read by the model too
			}
		case "response_format", "output_format":
			if bytes.Contains(v, []byte(`"json_schema"`)) {
				s.r.Needs |= JSONSchema
			}
		case "text": // Responses: text.format
			if bytes.Contains(v, []byte(`"json_schema"`)) {
				s.r.Needs |= JSONSchema
			}
		case "reasoning_effort":
			if string(v) != `"none"` && string(v) != `"minimal"` && string(v) != "null" {
				s.r.Needs |= Reasoning
			}
		case "reasoning":
			if v[0] == '{' || string(v) == "true" {
				s.r.Needs |= Reasoning
			}
		case "thinking":
			if bytes.Contains(v, []byte(`"enabled"`)) || bytes.Contains(v, []byte(`"adaptive"`)) {
				s.r.Needs |= Reasoning
			}
		case "max_tokens", "max_completion_tokens", "max_output_tokens":
			s.r.OutputTokens = atoi(v)
		case "generationConfig", "generation_config":
			s.generationConfig(v)
		case "stream":
			if string(v) == "true" {
				s.r.Stream = true
			}
		}
	}
	s.r.PromptTokens = (s.text+3)/4 + s.media*ImageTokens + 4*s.r.Messages
	if conv != nil {
		s.markers(conv)
	}
	return s.r
}

// generationConfig reads Gemini's output settings.
func (s *scanner) generationConfig(v []byte) {
	for k, x, p, ok := jsonscan.Field(v, 0); ok; k, x, p, ok = jsonscan.Field(v, p) {
		switch string(k) {
		case "responseSchema", "response_schema", "responseJsonSchema", "response_json_schema":
			s.r.Needs |= JSONSchema
		case "thinkingConfig", "thinking_config":
			if !bytes.Contains(x, []byte(`"thinkingBudget":0`)) && !bytes.Contains(x, []byte(`"thinking_budget":0`)) {
				s.r.Needs |= Reasoning
			}
		case "maxOutputTokens", "max_output_tokens":
			s.r.OutputTokens = atoi(x)
		}
	}
}

type scanner struct {
	r     Requirements
	text  int // bytes of text the model reads
	media int // images, audio clips and documents
}

// walk goes over a conversation value once, without recursion: it counts the bytes of text
// strings, the turns (role keys), and the media parts (by their type words, mime types and
// data URLs, whose bytes are not text).
func (s *scanner) walk(v []byte) {
	if len(v) > 0 && v[0] == '"' { // a bare string: Responses input, Anthropic system
		s.text += len(v) - 2
		if s.r.Messages == 0 {
			s.r.Messages = 1
		}
		return
	}
	var key []byte
	for i := 0; i < len(v); {
		c := v[i]
		if c != '"' {
			i++
			continue
		}
		end := stringEnd(v, i)
		str := v[i+1 : end-1]
		j := end
		for j < len(v) && (v[j] == ' ' || v[j] == '\n' || v[j] == '\t' || v[j] == '\r') {
			j++
		}
		if j < len(v) && v[j] == ':' {
			key = str
			switch string(str) {
			case "role":
				s.r.Messages++
			case "image_url", "inline_data", "inlineData", "file_data", "fileData":
				s.r.Needs |= Vision
				if str[0] == 'i' && str[1] == 'm' {
					s.media++
				}
			case "input_audio":
				s.r.Needs |= Audio
			}
			i = j + 1
			continue
		}
		i = end
		switch string(key) {
		case "type":
			switch string(str) {
			case "image", "image_url", "input_image":
				s.r.Needs |= Vision
				if string(str) != "image_url" { // counted by its key
					s.media++
				}
			case "document", "input_file", "file":
				s.media++
			case "input_audio", "audio":
				s.r.Needs |= Audio
				s.media++
			}
			continue
		case "mime_type", "mimeType", "media_type":
			switch {
			case bytes.HasPrefix(str, []byte("image/")), bytes.HasPrefix(str, []byte("video/")):
				s.r.Needs |= Vision
				s.media++
			case bytes.HasPrefix(str, []byte("audio/")):
				s.r.Needs |= Audio
				s.media++
			}
			continue
		case "data", "url", "file_data", "image_url", "file_id", "file_uri", "fileUri", "id":
			continue // media payloads and references: not text
		}
		if len(str) > 5 && string(str[:5]) == "data:" {
			continue
		}
		s.text += len(str)
	}
}

// stringEnd returns the index just past the JSON string that starts at b[i].
func stringEnd(b []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		n := 0
		for k := i - 1; b[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

func atoi(v []byte) int {
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			break
		}
		if n > 1<<30 {
			return n
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// Markers are the words the tier rules and the category look for, lowercase, in the raw JSON
// text of the conversation's last tailSize bytes (so a newline is the two bytes `\n`).
var (
	codeMarkers = []string{"```", "func ", "def ", "class ", "#include", "import ", "function ", "return ",
		"stack trace", "traceback", "exception", "compile", "refactor", "regex", "sql", "unit test",
		"typescript", "python", "golang", "javascript", "rust ", "kubernetes"}
	mathMarkers = []string{"prove", "proof", "theorem", "integral", "derivative", "equation", "solve for",
		"probability", "matrix", "\\\\frac", "lemma"}
	reasoningMarkers = []string{"step by step", "step-by-step", "think carefully", "reason about", "reasoning",
		"analyze", "analyse", "derive", "trade-off", "tradeoff", "compare", "evaluate", "why does", "why is",
		"explain why", "root cause", "plan "}
	writingMarkers = []string{"essay", "story", "poem", "blog post", "rewrite", "cover letter", "email to",
		"article", "paragraph"}
	stepMarkers = []string{`\n1.`, `\n2.`, `\n3.`, `\n4.`, `\n5.`, `\n6.`, `\n- `, `\n* `, " then ", "finally", "after that",
		"next,"}
)

// marker kinds
const (
	markCode = iota
	markMath
	markReasoning
	markWriting
	markStep
)

// markersByFirst are the markers by their first byte, so that the tail is scanned once.
var markersByFirst = func() (t [256][]marker) {
	for kind, list := range [...][]string{codeMarkers, mathMarkers, reasoningMarkers, writingMarkers, stepMarkers} {
		for _, m := range list {
			t[m[0]] = append(t[m[0]], marker{m, uint8(kind)})
		}
	}
	return t
}()

// markerPairs has a bit for each (first, second) byte pair some marker starts with: most
// positions of the tail are passed over with one look-up.
var markerPairs = func() (t [1 << 16 / 8]uint8) {
	for _, list := range markersByFirst {
		for _, m := range list {
			k := uint16(m.s[0])<<8 | uint16(m.s[1])
			t[k>>3] |= 1 << (k & 7)
		}
	}
	return t
}()

type marker struct {
	s    string
	kind uint8
}

// markers looks for the markers in the conversation's last tailSize bytes, ignoring ASCII case,
// in one pass.
func (s *scanner) markers(conv []byte) {
	if len(conv) > tailSize {
		conv = conv[len(conv)-tailSize:]
	}
	var found [markStep + 1]int
	for i := 0; i+1 < len(conv); i++ {
		c := lower(conv[i])
		if k := uint16(c)<<8 | uint16(lower(conv[i+1])); markerPairs[k>>3]&(1<<(k&7)) == 0 {
			continue
		}
		for _, m := range markersByFirst[c] {
			if hasPrefixFold(conv[i:], m.s) {
				found[m.kind]++
			}
		}
	}
	r := &s.r
	r.Code, r.MathMarks, r.ReasoningMarks, r.Writing = found[markCode] > 0, found[markMath] > 0, found[markReasoning] > 0, found[markWriting] > 0
	r.Steps = found[markStep]
	switch {
	case r.Code:
		r.Category = Code
	case r.MathMarks:
		r.Category = Math
	case r.Writing:
		r.Category = Writing
	}
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasPrefixFold reports whether b starts with the lowercase m, ignoring ASCII case.
func hasPrefixFold(b []byte, m string) bool {
	if len(b) < len(m) {
		return false
	}
	for k := 1; k < len(m); k++ {
		if lower(b[k]) != m[k] {
			return false
		}
	}
	return true
}
