package llmrouter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
)

// TestResponsesCustomTool: a custom (freeform) tool with a grammar, as Codex CLI sends its
// apply_patch, reaches a chat-only, an Anthropic and a Gemini upstream as a function whose one
// string parameter input carries the freeform text, the grammar in its description, and a
// tool_choice forcing it forces the function. The upstream's call of it comes back to
// openai-go as a custom_tool_call item whose input is the patch, byte for byte (streamed: its
// custom_tool_call_input events, no function call arguments), and the call and its
// custom_tool_call_output, replayed on the next turn, reach the upstream as the tool call with
// the patch as its argument and its result. Before, the tool was dropped, the forcing choice
// was a 400 and so was the replayed call.
func TestResponsesCustomTool(t *testing.T) {
	const patch = "*** Begin Patch\n*** Update File: a.txt\n@@\n-x\n+\t\"café\" <b>\\n</b>\n*** End Patch\n"
	for _, api := range []string{"openai", "anthropic", "gemini"} {
		for _, stream := range []bool{false, true} {
			t.Run(api+"/"+byStream(stream), func(t *testing.T) {
				var rec requestLog
				_, rs := newResponsesRouter(t, api, false, func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					var req agentRequest
					_ = json.Unmarshal(body, &req)
					streamed := req.Stream || strings.HasSuffix(r.URL.Path, ":streamGenerateContent")
					var calls []agentCall
					text := "Patched."
					if !req.answered() {
						rec.add(fmt.Sprintf("call input=%d grammar=%d", boolInt(bytes.Contains(body, []byte(`"input":{`))),
							boolInt(bytes.Contains(body, []byte(`must match this lark grammar:\nstart: begin_patch`)))))
						calls, text = []agentCall{{"p1", "apply_patch", map[string]string{"input": patch}}}, ""
					} else {
						var replay struct {
							Input string `json:"input"`
						}
						for _, raw := range customReplays(api, body) {
							_ = json.Unmarshal(raw, &replay)
						}
						rec.add(fmt.Sprintf("answer replayed=%d result=%d", boolInt(replay.Input == patch),
							boolInt(bytes.Contains(body, []byte(`Success. Updated a.txt`)))))
					}
					if streamed {
						sseReply(agentStream(api, "Patch it.", calls, text)...)(w, r)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					_, _ = io.WriteString(w, agentWhole(api, "", calls, text))
				})
				tool := responses.ToolUnionParam{OfCustom: &responses.CustomToolParam{Name: "apply_patch",
					Description: openai.String("Edit files with a patch."),
					Format: shared.CustomToolInputFormatUnionParam{OfGrammar: &shared.CustomToolInputFormatGrammarParam{
						Syntax: "lark", Definition: "start: begin_patch hunk+ end_patch"}}}}
				params := responses.ResponseNewParams{Model: "m", Store: openai.Bool(false),
					Input:      responses.ResponseNewParamsInputUnion{OfString: openai.String("Fix a.txt.")},
					Tools:      []responses.ToolUnionParam{responsesWeatherTool, tool},
					ToolChoice: responses.ResponseNewParamsToolChoiceUnion{OfCustomTool: &responses.ToolChoiceCustomParam{Name: "apply_patch"}}}
				res := sendResponses(t, rs, params, stream)
				var types []string
				var call responses.ResponseCustomToolCall
				for _, it := range res.Output {
					types = append(types, it.Type)
					if it.Type == "custom_tool_call" {
						call = it.AsCustomToolCall()
					}
				}
				if want := map[bool]string{false: "custom_tool_call", true: "reasoning custom_tool_call"}[stream]; strings.Join(types, " ") != want {
					t.Fatalf("first turn output items %q, want %q", types, want)
				}
				if call.Name != "apply_patch" || call.Input != patch || call.CallID == "" {
					t.Fatalf("custom tool call %q %q (call id %q), want apply_patch %q", call.Name, call.Input, call.CallID, patch)
				}
				replay := call.ToParam()
				params.ToolChoice = responses.ResponseNewParamsToolChoiceUnion{}
				params.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
					responses.ResponseInputItemParamOfMessage("Fix a.txt.", responses.EasyInputMessageRoleUser),
					{OfCustomToolCall: &replay},
					responses.ResponseInputItemParamOfCustomToolCallOutput(call.CallID, "Success. Updated a.txt"),
				}}
				if res = sendResponses(t, rs, params, stream); res.OutputText() != "Patched." {
					t.Fatalf("second turn: %q %+v", res.OutputText(), res.Output)
				}
				if got, want := rec.list(), []string{"call input=1 grammar=1", "answer replayed=1 result=1"}; strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("upstream requests %q, want %q", got, want)
				}
			})
		}
	}
}

// customReplays are the arguments of the calls that an upstream request in api's dialect
// replays: chat's decoded from their string, Anthropic's tool_use input, Gemini's args.
func customReplays(api string, body []byte) []json.RawMessage {
	var out []json.RawMessage
	switch api {
	case "anthropic":
		var req struct {
			Messages []struct {
				Content json.RawMessage `json:"content"`
			} `json:"messages"`
		}
		_ = json.Unmarshal(body, &req)
		for _, m := range req.Messages {
			var blocks []struct {
				Type  string          `json:"type"`
				Input json.RawMessage `json:"input"`
			}
			_ = json.Unmarshal(m.Content, &blocks)
			for _, b := range blocks {
				if b.Type == "tool_use" {
					out = append(out, b.Input)
				}
			}
		}
	case "gemini":
		var req struct {
			Contents []struct {
				Parts []struct {
					FunctionCall *struct {
						Args json.RawMessage `json:"args"`
					} `json:"functionCall"`
				} `json:"parts"`
			} `json:"contents"`
		}
		_ = json.Unmarshal(body, &req)
		for _, c := range req.Contents {
			for _, p := range c.Parts {
				if p.FunctionCall != nil {
					out = append(out, p.FunctionCall.Args)
				}
			}
		}
	default:
		var req struct {
			Messages []struct {
				ToolCalls []struct {
					Function struct {
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"messages"`
		}
		_ = json.Unmarshal(body, &req)
		for _, m := range req.Messages {
			for _, tc := range m.ToolCalls {
				out = append(out, json.RawMessage(tc.Function.Arguments))
			}
		}
	}
	return out
}
