// Package gemini is the Google Gemini dialect (generateContent, streamGenerateContent,
// countTokens, models): its request and reply types, translation of requests, replies and
// streams to and from the pivot (package dialect/openai), its error shape and classifier facts,
// a token estimate for countTokens, and the models list.
//
// Directions, named from this package's point of view, as in dialect/anthropic:
//
//   - FromOpenAI*: pivot -> Gemini. An OpenAI client's request to an `api gemini` upstream
//     (RequestFromOpenAI), and a pivot reply or stream going back to a Gemini client
//     (ResponseFromOpenAI, NewStreamFromOpenAI).
//   - ToOpenAI*: Gemini -> pivot. A Gemini client's request to an OpenAI-dialect upstream
//     (RequestToOpenAI), and a Gemini upstream's reply or stream going back to an OpenAI client
//     (ResponseToOpenAI, NewStreamToOpenAI).
//
// The model is never in a Gemini body: it is in the URL (models/{model}:generateContent), and
// so is streaming (:streamGenerateContent, with ?alt=sse for SSE framing). The caller handles
// the URL; the options carry what it found there.
//
// Same dialect on both sides never comes here: that is the router's zero-decode passthrough
// (with NewSSEToArray when a client asked for the array framing).
package gemini

import "encoding/json"

// Request is a GenerateContentRequest (the fields the translators read or write; safety
// settings, cached content and non-function tools are dropped on translation).
type Request struct {
	Contents          []Content         `json:"contents"`
	SystemInstruction *Content          `json:"systemInstruction,omitempty"`
	Tools             []Tool            `json:"tools,omitempty"`
	ToolConfig        *ToolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *GenerationConfig `json:"generationConfig,omitempty"`
}

// Content is one turn (role "user" or "model") or the system instruction (no role).
type Content struct {
	Role  string `json:"role,omitempty"`
	Parts []Part `json:"parts"`
}

// Part is one part of a turn. Which fields are set depends on its kind: text (Text, with
// Thought for a thought summary), inline data, file data, a function call or a function
// response. ThoughtSignature may come on any part; the translators keep it only on function
// calls, where Gemini 3 requires it back.
type Part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *Blob             `json:"inlineData,omitempty"`
	FileData         *FileData         `json:"fileData,omitempty"`
	FunctionCall     *FunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *FunctionResponse `json:"functionResponse,omitempty"`
}

// Blob is inline data: base64 bytes and their media type.
type Blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

// FileData is data by reference (a Files API URI, or a URL).
type FileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

// FunctionCall is a call the model made. Args is a JSON object.
type FunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// FunctionResponse is a function's result sent back to the model. Response is a JSON object.
type FunctionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

// Tool is one entry of tools. Only function declarations translate; googleSearch,
// codeExecution and the other built-in tools are Gemini's own.
type Tool struct {
	FunctionDeclarations []FunctionDeclaration `json:"functionDeclarations,omitempty"`
}

// FunctionDeclaration declares a function. Parameters is Gemini's OpenAPI-subset schema,
// ParametersJSONSchema a JSON Schema; a declaration has one or neither.
type FunctionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	Parameters           json.RawMessage `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

// ToolConfig is the request's toolConfig.
type ToolConfig struct {
	FunctionCallingConfig *FunctionCallingConfig `json:"functionCallingConfig,omitempty"`
}

// FunctionCallingConfig says whether and which functions the model may call: mode AUTO,
// ANY, NONE (or VALIDATED), AllowedFunctionNames with ANY.
type FunctionCallingConfig struct {
	Mode                 string   `json:"mode,omitempty"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

// GenerationConfig is the request's generationConfig.
type GenerationConfig struct {
	StopSequences      []string        `json:"stopSequences,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseSchema     json.RawMessage `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	CandidateCount     *int            `json:"candidateCount,omitempty"`
	MaxOutputTokens    *int            `json:"maxOutputTokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *float64        `json:"topK,omitempty"`
	Seed               *int64          `json:"seed,omitempty"`
	PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
	ThinkingConfig     *ThinkingConfig `json:"thinkingConfig,omitempty"`
}

// ThinkingConfig is generationConfig.thinkingConfig: a token budget (Gemini 2.5; -1 dynamic,
// 0 off) or a level (Gemini 3: minimal, low, medium, high), and whether thought summaries
// come back.
type ThinkingConfig struct {
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
	ThinkingBudget  *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel   string `json:"thinkingLevel,omitempty"`
}

// Response is a GenerateContentResponse: a whole reply, or one chunk of a stream.
type Response struct {
	Candidates     []Candidate     `json:"candidates,omitempty"`
	PromptFeedback *PromptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *UsageMetadata  `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion,omitempty"`
	ResponseID     string          `json:"responseId,omitempty"`
}

// Candidate is one candidate answer.
type Candidate struct {
	Content      *Content `json:"content,omitempty"`
	FinishReason string   `json:"finishReason,omitempty"`
	Index        int      `json:"index"`
}

// PromptFeedback says why a prompt was blocked (BlockReason set, no candidates).
type PromptFeedback struct {
	BlockReason string `json:"blockReason,omitempty"`
}

// UsageMetadata is a reply's token counts. PromptTokenCount includes the cached part of the
// prompt (CachedContentTokenCount), as OpenAI's prompt_tokens do; thoughts are counted apart
// from the candidates.
type UsageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount,omitempty"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount,omitempty"`
	CachedContentTokenCount int `json:"cachedContentTokenCount,omitempty"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount,omitempty"`
	TotalTokenCount         int `json:"totalTokenCount"`
}

// Finish reasons Gemini sends (candidate.finishReason).
const (
	FinishStop                  = "STOP"
	FinishMaxTokens             = "MAX_TOKENS"
	FinishSafety                = "SAFETY"
	FinishRecitation            = "RECITATION"
	FinishLanguage              = "LANGUAGE"
	FinishOther                 = "OTHER"
	FinishBlocklist             = "BLOCKLIST"
	FinishProhibitedContent     = "PROHIBITED_CONTENT"
	FinishSPII                  = "SPII"
	FinishMalformedFunctionCall = "MALFORMED_FUNCTION_CALL"
	FinishImageSafety           = "IMAGE_SAFETY"
)

// FinishReason maps a Gemini finish reason to the pivot's finish_reason. calledTools says the
// candidate produced function calls (in this chunk or an earlier one of the stream): Gemini
// finishes such a turn with STOP, which is then tool_calls.
//
//   - STOP: stop, or tool_calls when tools were called;
//   - MAX_TOKENS: length;
//   - SAFETY, RECITATION, LANGUAGE, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY (and any
//     other *_SAFETY): content_filter, also after a tool call (the turn was cut by a filter);
//   - MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS: stop. The model tried
//     to call a function and Gemini dropped the call, so there is no call to report; tool_calls
//     with none would make agents wait for results that never come, content_filter would
//     read as a policy refusal. Calls that did come before it still make it tool_calls;
//   - anything else (OTHER, FINISH_REASON_UNSPECIFIED, unknown): stop, tool_calls after calls.
func FinishReason(geminiReason string, calledTools bool) string {
	switch geminiReason {
	case FinishMaxTokens:
		return "length"
	case FinishSafety, FinishRecitation, FinishLanguage, FinishBlocklist, FinishProhibitedContent, FinishSPII, FinishImageSafety:
		return "content_filter"
	}
	if len(geminiReason) > 7 && geminiReason[len(geminiReason)-7:] == "_SAFETY" {
		return "content_filter"
	}
	if calledTools {
		return "tool_calls"
	}
	return "stop"
}

// FinishReasonFromOpenAI maps a pivot finish_reason to a Gemini finish reason: length
// MAX_TOKENS, content_filter SAFETY, stop, tool_calls (Gemini finishes a calling turn with
// STOP), function_call and empty STOP, anything else OTHER.
func FinishReasonFromOpenAI(finishReason string) string {
	switch finishReason {
	case "length":
		return FinishMaxTokens
	case "content_filter":
		return FinishSafety
	case "stop", "tool_calls", "function_call", "":
		return FinishStop
	}
	return FinishOther
}
