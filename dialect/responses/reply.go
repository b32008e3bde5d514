package responses

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// ReplyOptions configure the translation of replies and streams.
type ReplyOptions struct {
	// Model is the response's model (the public name the client asked for); empty keeps the
	// upstream's.
	Model string
	// Created is the response's created_at (unix seconds); 0 means now.
	Created int64
	// Namespaces are the request's namespace tools (see ToolNames): a call of a function named
	// <namespace>__<name> is written as name in namespace.
	Namespaces []string
	// Custom are the chat names of the request's custom tools (see ToolNames): a call of one is
	// written as a custom_tool_call item whose input is the call's input argument.
	Custom []string
}

// custom reports whether the chat function name (escaped, as called) is a custom tool's.
func (o *ReplyOptions) custom(name []byte) bool {
	for _, c := range o.Custom {
		if c == string(name) {
			return true
		}
	}
	return false
}

// namespaceSep joins a namespace and a function name into one chat function name (chat allows
// [A-Za-z0-9_-] in names).
const namespaceSep = "__"

// NamespacedName is the chat function name of function name in namespace ns.
func NamespacedName(ns, name string) string { return ns + namespaceSep + name }

// split returns the namespace and the name of a called function's escaped name: no namespace
// for a name that is not one of o.Namespaces' functions.
func (o *ReplyOptions) split(name []byte) (ns, fn []byte) {
	for _, n := range o.Namespaces {
		if len(name) > len(n)+len(namespaceSep) && string(name[:len(n)]) == n && string(name[len(n):len(n)+len(namespaceSep)]) == namespaceSep {
			return name[:len(n)], name[len(n)+len(namespaceSep):]
		}
	}
	return nil, name
}

// ToolNames are the names of the namespace tools of a Responses request body and the chat
// names of its custom tools, for ReplyOptions; nil for a body that names neither. Only the
// tools are decoded, and only when they hold either type (the input, the bulk of an agent's
// body, is skipped unread).
func ToolNames(body []byte) (namespaces, custom []string) {
	raw := wire.Key(body, "tools")
	if !bytes.Contains(raw, []byte(`"namespace"`)) && !bytes.Contains(raw, []byte(`"custom"`)) {
		return nil, nil
	}
	type tool struct{ Type, Name string }
	var tools []struct {
		Type, Name string
		Tools      []tool `json:"tools"`
	}
	if json.Unmarshal(raw, &tools) != nil {
		return nil, nil
	}
	for _, t := range tools {
		switch {
		case t.Name == "":
		case t.Type == "custom":
			custom = append(custom, t.Name)
		case t.Type == "namespace":
			namespaces = append(namespaces, t.Name)
			for _, f := range t.Tools {
				if f.Type == "custom" && f.Name != "" {
					custom = append(custom, NamespacedName(t.Name, f.Name))
				}
			}
		}
	}
	return namespaces, custom
}

// ResponseFromOpenAI translates a chat-only upstream's whole 2xx chat completion into a
// Responses API response object: reasoning_content becomes a reasoning item (its text as the
// summary), the text (and a refusal) a message item with one output_text part, each tool call
// a function_call item (call_id, name, arguments), or a custom_tool_call item (call_id, name,
// input) for a call of a custom tool (ReplyOptions.Custom); finish_reason length or
// content_filter make the status incomplete; usage becomes input_tokens, output_tokens and
// total_tokens with their details. Only choice 0 is translated. A body that is not a chat completion is an error:
// classify it as an upstream failure.
func ResponseFromOpenAI(body []byte, opts ReplyOptions) ([]byte, error) {
	var r openai.Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("responses: reply: %w", err)
	}
	if len(r.Choices) == 0 {
		return nil, fmt.Errorf("responses: reply without choices")
	}
	return AppendResponse(make([]byte, 0, len(body)+256), &r, opts), nil
}

// AppendResponse appends the Responses object for a pivot reply (see ResponseFromOpenAI).
func AppendResponse(dst []byte, r *openai.Response, opts ReplyOptions) []byte {
	c := &r.Choices[0]
	for i := range r.Choices {
		if r.Choices[i].Index == 0 {
			c = &r.Choices[i]
			break
		}
	}
	h := head{id: responseID(escape(r.ID)), created: opts.Created}
	if h.created == 0 {
		h.created = r.Created
	}
	if h.created == 0 {
		h.created = time.Now().Unix()
	}
	model := opts.Model
	if model == "" {
		model = r.Model
	}
	h.model = jsonstr.Append(nil, model)
	core := h.id[len("resp_"):]
	items := make([]outItem, 0, 2+len(c.Message.ToolCalls))
	if s := c.Message.ReasoningContent; s != "" {
		items = append(items, outItem{kind: kindReasoning, id: itemID("rs_", core, len(items)), text: escape(s)})
	}
	text := c.Message.Content.String("")
	if c.Message.Refusal != "" {
		text += c.Message.Refusal
	}
	if text != "" || len(c.Message.ToolCalls) == 0 {
		items = append(items, outItem{kind: kindMessage, id: itemID("msg_", core, len(items)), text: escape(text)})
	}
	for i, tc := range c.Message.ToolCalls {
		it := outItem{kind: kindFunctionCall, id: itemID("fc_", core, len(items)),
			callID: escape(tc.ID), text: escape(tc.Function.Arguments)}
		name := escape(tc.Function.Name)
		if opts.custom(name) {
			it.kind, it.id, it.text = kindCustomCall, itemID("ctc_", core, len(items)), escape(customInput(tc.Function.Arguments))
		}
		it.namespace, it.name = opts.split(name)
		if tc.ID == "" {
			it.callID = itemID("call_", core, i)
		}
		items = append(items, it)
	}
	var u usage
	if r.Usage != nil {
		u = pivotUsage(r.Usage)
	}
	reason := incompleteReason(c.FinishReason)
	status := "completed"
	if reason != "" {
		status = "incomplete"
	}
	return appendResponse(dst, &h, items, status, reason, &u)
}

// customInput is the freeform input of a custom tool's call whose chat arguments are args: its
// input argument; arguments that are not the object the function asks for are taken as the
// input itself (a model may answer a one-string function with the bare text).
func customInput(args string) string {
	var v struct {
		Input *string `json:"input"`
	}
	if json.Unmarshal([]byte(args), &v) != nil || v.Input == nil {
		return args
	}
	return *v.Input
}

func pivotUsage(p *openai.Usage) usage {
	u := usage{input: int64(p.PromptTokens), output: int64(p.CompletionTokens), total: int64(p.TotalTokens)}
	if d := p.PromptTokensDetails; d != nil {
		u.cached = int64(d.CachedTokens)
	}
	if d := p.CompletionTokensDetails; d != nil {
		u.reasoning = int64(d.ReasoningTokens)
	}
	if u.total == 0 {
		u.total = u.input + u.output
	}
	return u
}

// responseID is "resp_" + the upstream's id (escaped, no quotes), or "resp_router" without one.
func responseID(upstream []byte) []byte {
	if len(upstream) == 0 {
		return []byte("resp_router")
	}
	return append([]byte("resp_"), upstream...)
}
