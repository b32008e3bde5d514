package responses

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	sdk "github.com/openai/openai-go/v3/responses"
)

const wholeUsage = `"usage":{"input_tokens":20,"input_tokens_details":{"cached_tokens":4},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":29}`

// wholeResponse is a response object of the given status and output items.
func wholeResponse(status, output string) string {
	return `{"id":"resp_up1","object":"response","created_at":7,"status":"` + status + `","error":null,"incomplete_details":null,` +
		`"model":"gpt-up","output":[` + output + `],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],` + wholeUsage + `}`
}

// TestReplyEventsRebuildTheResponse: the events ReplyEvents makes of a whole response object
// are valid Responses SSE (named events of their own type, sequence numbers from 0) that
// openai-go reads, and what they stream adds up to the response: its accumulator reads, from
// the added events and deltas alone, each item's id, type, text, arguments and input; the
// reasoning summary's deltas are its text; each
// output_item.done is the item as it came, and the terminal event the response, from which the
// accumulator rebuilds it whole.
func TestReplyEventsRebuildTheResponse(t *testing.T) {
	reasoning := `{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"Weigh \"it\"\nfirst."},{"type":"summary_text","text":"Then é."}],"encrypted_content":"gAAAA+opaque=="}`
	message := `{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"It is \"18C\"\nin Paris.","annotations":[{"type":"url_citation","start_index":0,"end_index":2,"url":"https://x.test/","title":"X"}],"logprobs":[]}]}`
	for _, tc := range []struct{ name, reply, terminal string }{
		{"reasoning and text, pretty-printed", indent(wholeResponse("completed", reasoning+","+message)), "response.completed"},
		{"calls", wholeResponse("completed",
			`{"id":"fc_1","type":"function_call","status":"completed","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},`+
				`{"id":"fc_2","type":"function_call","status":"completed","call_id":"call_2","name":"now","arguments":""},`+
				`{"id":"ctc_1","type":"custom_tool_call","status":"completed","call_id":"call_3","name":"apply_patch","input":"*** Begin Patch\n\"x\"\n*** End Patch"}`), "response.completed"},
		{"refusal", wholeResponse("completed", `{"id":"msg_2","type":"message","status":"completed","role":"assistant","content":[{"type":"refusal","refusal":"I can't."}]}`), "response.completed"},
		{"hosted tool and cut text", wholeResponse("incomplete",
			`{"id":"ws_1","type":"web_search_call","status":"completed","action":{"type":"search","query":"paris"}},`+
				`{"id":"msg_3","type":"message","status":"incomplete","role":"assistant","content":[{"type":"output_text","text":"Par","annotations":[]}]}`), "response.incomplete"},
		{"no output", `{"id":"resp_up2","object":"response","status":"completed","output":[],"usage":null}`, "response.completed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ReplyEvents([]byte("kept"), []byte(tc.reply))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(out), "kept") {
				t.Fatal("dst was not appended to")
			}
			evs := parse(t, out[len("kept"):])
			raws := strings.Split(strings.TrimSuffix(string(out[len("kept"):]), "\n\n"), "\n\n")
			var whole struct {
				Output []json.RawMessage
			}
			if err := json.Unmarshal([]byte(tc.reply), &whole); err != nil {
				t.Fatal(err)
			}
			if got := names(evs[:2]); got != "created in_progress" || evs[len(evs)-1].name != tc.terminal {
				t.Fatalf("events %s, want created, in_progress ... %s", names(evs), tc.terminal)
			}
			for _, e := range evs[:2] {
				r := e.data["response"].(map[string]any)
				if r["status"] != "in_progress" || len(r["output"].([]any)) != 0 || r["usage"] != nil || r["id"] != "resp_up1" && r["id"] != "resp_up2" {
					t.Errorf("%s: response %v", e.name, r)
				}
			}

			// acc reads every event; deltas only what opens an item or part and the deltas.
			var acc, deltas sdk.ResponseAccumulator
			summaries := map[string]string{}
			var done []json.RawMessage
			for i, e := range evs {
				data := []byte(strings.SplitN(raws[i], "\ndata: ", 2)[1])
				var typed sdk.ResponseStreamEventUnion
				if err := json.Unmarshal(data, &typed); err != nil {
					t.Fatalf("openai-go does not read %s: %v", data, err)
				}
				var ev sdk.ResponsesServerEventUnion
				if err := json.Unmarshal(data, &ev); err != nil {
					t.Fatal(err)
				}
				if err := acc.AddEvent(ev); err != nil {
					t.Fatalf("accumulate %s: %v", data, err)
				}
				if !strings.HasSuffix(e.name, ".done") && i < len(evs)-1 {
					if err := deltas.AddEvent(ev); err != nil {
						t.Fatalf("accumulate %s: %v", data, err)
					}
				}
				switch e.name {
				case "response.reasoning_summary_text.delta":
					summaries[fmt.Sprint(typed.ItemID, typed.SummaryIndex)] += typed.Delta
				case "response.output_item.done":
					done = append(done, json.RawMessage(typed.JSON.Item.Raw()))
				}
			}
			snap := deltas.Snapshot()
			if len(done) != len(whole.Output) || len(snap.Output) != len(whole.Output) {
				t.Fatalf("%d items done, %d accumulated, want %d", len(done), len(snap.Output), len(whole.Output))
			}
			for i, raw := range whole.Output {
				if !jsonEqual(done[i], raw) {
					t.Errorf("output_item.done %d:\n%s\nwant\n%s", i, done[i], raw)
				}
				var it struct {
					ID, Type, Arguments, Input string
					Content                    []struct{ Type, Text string }
					Summary                    []struct{ Text string }
				}
				_ = json.Unmarshal(raw, &it)
				got := snap.Output[i]
				if got.ItemID != it.ID || got.Type != it.Type || got.Arguments != it.Arguments || got.Input != it.Input {
					t.Errorf("item %d accumulated as %+v, want %s", i, got, raw)
				}
				for j, c := range it.Content {
					if c.Type == "output_text" && got.Text[int64(j)] != c.Text {
						t.Errorf("item %d part %d: text %q, want %q", i, j, got.Text[int64(j)], c.Text)
					}
				}
				for k, s := range it.Summary {
					if d := summaries[fmt.Sprint(it.ID, k)]; d != s.Text {
						t.Errorf("item %d summary %d: deltas %q, want %q", i, k, d, s.Text)
					}
				}
			}
			res, err := acc.ReconstructedResponse()
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual([]byte(res.RawJSON()), []byte(tc.reply)) {
				t.Errorf("terminal response:\n%s\nwant\n%s", res.RawJSON(), tc.reply)
			}
		})
	}
}

// TestReplyEventsDeltas: each item's content comes as the events the API streams it in, the
// added item and parts carrying it empty.
func TestReplyEventsDeltas(t *testing.T) {
	out, err := ReplyEvents(nil, []byte(wholeResponse("completed",
		`{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"S"}],"content":[{"type":"reasoning_text","text":"R"}]},`+
			`{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"T","annotations":[]},{"type":"refusal","refusal":"N"}]},`+
			`{"id":"fc_1","type":"function_call","status":"completed","call_id":"c1","name":"f","arguments":"{}"},`+
			`{"id":"ctc_1","type":"custom_tool_call","status":"completed","call_id":"c2","name":"g","input":"I"}`)))
	if err != nil {
		t.Fatal(err)
	}
	evs := parse(t, out)
	want := "created in_progress " +
		"output_item.added reasoning_summary_part.added reasoning_summary_text.delta reasoning_summary_text.done reasoning_summary_part.done reasoning_text.delta reasoning_text.done output_item.done " +
		"output_item.added content_part.added output_text.delta output_text.done content_part.done content_part.added refusal.delta refusal.done content_part.done output_item.done " +
		"output_item.added function_call_arguments.delta function_call_arguments.done output_item.done " +
		"output_item.added custom_tool_call_input.delta custom_tool_call_input.done output_item.done completed"
	if got := names(evs); got != want {
		t.Fatalf("events\n%s\nwant\n%s", got, want)
	}
	for _, e := range evs {
		switch e.name {
		case "response.output_item.added":
			it := e.data["item"].(map[string]any)
			if it["content"] != nil && len(it["content"].([]any)) != 0 || it["summary"] != nil && len(it["summary"].([]any)) != 0 ||
				it["arguments"] != nil && it["arguments"] != "" || it["input"] != nil && it["input"] != "" ||
				it["status"] != nil && it["status"] != "in_progress" {
				t.Errorf("added item with content: %v", it)
			}
		case "response.content_part.added", "response.reasoning_summary_part.added":
			p := e.data["part"].(map[string]any)
			if p["text"] != nil && p["text"] != "" || p["refusal"] != nil && p["refusal"] != "" {
				t.Errorf("added part with content: %v", p)
			}
		}
		if strings.HasSuffix(e.name, ".delta") && (e.data["item_id"] == "" || e.data["output_index"] == nil || e.data["delta"] == "") {
			t.Errorf("delta %v", e.data)
		}
	}
}

// TestReplyEventsRefusesWhatIsNoCompletedResponse: a response that failed or was cancelled, one
// with an error, an error object and what is no response object are errors, and nothing is
// written: the relay fails them over.
func TestReplyEventsRefusesWhatIsNoCompletedResponse(t *testing.T) {
	for _, reply := range []string{
		``, `[]`, `"text"`, `{"error":{"message":"overloaded","type":"server_error"}}`,
		`{"id":"resp_1","object":"response","status":"failed","error":{"code":"server_error","message":"boom"},"output":[]}`,
		`{"id":"resp_1","object":"response","status":"completed","error":{"code":"server_error","message":"boom"},"output":[]}`,
		`{"id":"resp_1","object":"response","status":"cancelled","output":[]}`,
		`{"id":"resp_1","object":"response","status":"queued","output":[]}`,
		`{"id":"resp_1","object":"chat.completion","choices":[],"output":[]}`,
		`{"id":"resp_1","object":"response","status":"completed","output":null}`,
		`{"id":"resp_1","object":"response","status":"completed","output":["text"]}`,
	} {
		out, err := ReplyEvents([]byte("x"), []byte(reply))
		if err == nil {
			t.Errorf("%s: no error", reply)
		}
		if string(out) != "x" {
			t.Errorf("%s: dst is %q, want it as it was", reply, out)
		}
	}
}

func indent(s string) string {
	var b strings.Builder
	var v any
	_ = json.Unmarshal([]byte(s), &v)
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return b.String()
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}
