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
const tailSize = 8 << 10

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

func (s *scanner) markers(conv []byte) {
	if len(conv) > tailSize {
		conv = conv[len(conv)-tailSize:]
	}
	var buf [tailSize]byte
	t := buf[:len(conv)]
	for i, c := range conv {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		t[i] = c
	}
	r := &s.r
	r.Code = anyIn(t, codeMarkers)
	r.MathMarks = anyIn(t, mathMarkers)
	r.ReasoningMarks = anyIn(t, reasoningMarkers)
	r.Writing = anyIn(t, writingMarkers)
	for _, m := range stepMarkers {
		r.Steps += bytes.Count(t, []byte(m))
	}
	switch {
	case r.Code:
		r.Category = Code
	case r.MathMarks:
		r.Category = Math
	case r.Writing:
		r.Category = Writing
	}
}

func anyIn(t []byte, markers []string) bool {
	for _, m := range markers {
		if bytes.Contains(t, []byte(m)) {
			return true
		}
	}
	return false
}
