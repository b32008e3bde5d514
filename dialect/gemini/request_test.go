package gemini

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRequestFromOpenAI(t *testing.T) {
	sig := "CiQBjz1rX8Yk+/abc=="
	tcID := ToolID("call_1", sig)
	in := `{"model":"gpt","stream":true,"messages":[
		{"role":"system","content":"Be brief."},
		{"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"text","text":""},
			{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}},
			{"type":"image_url","image_url":{"url":"https://x.test/a.JPG?s=1"}}]},
		{"role":"user","content":"in Paris"},
		{"role":"developer","content":[{"type":"text","text":"Use tools."}]},
		{"role":"assistant","content":"","reasoning_content":"hmm","tool_calls":[
			{"id":"` + tcID + `","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}},
			{"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]},
		{"role":"tool","tool_call_id":"call_2","content":"12:00"},
		{"role":"tool","tool_call_id":"` + tcID + `","content":"{\"temp\": 21}"},
		{"role":"user","content":"thanks"}],
		"tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":["string","null"]}},"additionalProperties":false}}},
			{"type":"function","function":{"name":"get_time"}},{"type":"web_search"}],
		"tool_choice":{"type":"function","function":{"name":"get_weather"}},
		"max_tokens":100,"max_completion_tokens":200,"stop":["a","","b","c","d","e","f"],"temperature":0.5,"top_p":0.9,
		"seed":7,"presence_penalty":0.5,"frequency_penalty":0,"n":3,"user":"u",
		"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},
		"reasoning_effort":"medium"}`
	got, err := RequestFromOpenAI([]byte(in), FromOpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(got), `{
		"contents":[
			{"role":"user","parts":[{"text":"Weather?"},{"inlineData":{"mimeType":"image/png","data":"iVBO"}},
				{"fileData":{"mimeType":"image/jpeg","fileUri":"https://x.test/a.JPG?s=1"}},{"text":"in Paris"}]},
			{"role":"model","parts":[
				{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"`+sig+`"},
				{"functionCall":{"name":"get_time","args":{}}}]},
			{"role":"user","parts":[
				{"functionResponse":{"name":"get_time","response":{"result":"12:00"}}},
				{"functionResponse":{"name":"get_weather","response":{"temp":21}}},
				{"text":"thanks"}]}],
		"systemInstruction":{"parts":[{"text":"Be brief."},{"text":"Use tools."}]},
		"tools":[{"functionDeclarations":[
			{"name":"get_weather","description":"d","parametersJsonSchema":{"type":"object","properties":{"city":{"type":["string","null"]}},"additionalProperties":false}},
			{"name":"get_time"}]}],
		"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}},
		"generationConfig":{"stopSequences":["a","b","c","d","e"],"responseMimeType":"application/json","responseJsonSchema":{"type":"object"},
			"maxOutputTokens":200,"temperature":0.5,"topP":0.9,"seed":7,"presencePenalty":0.5,
			"thinkingConfig":{"includeThoughts":true,"thinkingBudget":128}}}`)
}

func TestRequestFromOpenAIMappings(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"minimal", `{"messages":[{"role":"user","content":"hi"}]}`, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`},
		{"n whole", `{"n":2,"messages":[{"role":"user","content":"hi"}]}`, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"candidateCount":2}}`},
		{"n stream dropped", `{"n":2,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`},
		{"json object", `{"response_format":{"type":"json_object"},"messages":[{"role":"user","content":"hi"}]}`, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"responseMimeType":"application/json"}}`},
		{"none effort", `{"reasoning_effort":"none","messages":[{"role":"user","content":"hi"}]}`, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":0}}}`},
		{"high effort", `{"reasoning_effort":"high","messages":[{"role":"user","content":"hi"}]}`, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingBudget":24576}}}`},
		{"budget floor", `{"reasoning_effort":"low","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":50,"thinkingConfig":{"includeThoughts":true,"thinkingBudget":128}}}`},
		{"tool choice modes", `{"tool_choice":"required","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`},
		{"tool choice none", `{"tool_choice":"none","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`},
		{"tool choice auto", `{"tool_choice":"auto","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}}`},
		{"dummy signature, empty messages dropped, non-JSON result", `{"messages":[{"role":"user","content":"hi"},{"role":"user","content":""},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"b","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a","content":[{"type":"text","text":"[1,2]"}]},{"role":"tool","tool_call_id":"b","content":"x"}]}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"skip_thought_signature_validator"},{"functionCall":{"name":"f","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"result":"[1,2]"}}},{"functionResponse":{"name":"f","response":{"result":"x"}}}]}]}`},
		{"assistant text merged", `{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"assistant","content":[{"type":"text","text":"c"}],"refusal":"no"}]}`,
			`{"contents":[{"role":"user","parts":[{"text":"a"}]},{"role":"model","parts":[{"text":"b"},{"text":"c"},{"text":"no"}]}]}`},
		{"audio and file", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklG","format":"mp3"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBE"}}]}]}`,
			`{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"audio/mp3","data":"UklG"}},{"inlineData":{"mimeType":"application/pdf","data":"JVBE"}}]}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := RequestFromOpenAI([]byte(c.in), FromOpenAIOptions{})
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, string(got), c.want)
		})
	}
	for model, want := range map[string]string{
		"gemini-2.5-flash":      `{"thinkingBudget":0}`,
		"gemini-2.5-pro":        `{"thinkingBudget":128}`,
		"models/gemini-3-flash": `{"thinkingBudget":128}`,
	} {
		got, err := RequestFromOpenAI([]byte(`{"reasoning_effort":"none","messages":[{"role":"user","content":"hi"}]}`), FromOpenAIOptions{AlwaysThinks: AlwaysThinks(model)})
		if err != nil {
			t.Fatal(err)
		}
		jsonEq(t, string(got), `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":`+want+`}}`)
	}
	if got, err := RequestFromOpenAI([]byte(`{"max_tokens":32000,"messages":[{"role":"user","content":"hi"}]}`), FromOpenAIOptions{MaxOutputTokens: 8192}); err != nil {
		t.Fatal(err)
	} else {
		jsonEq(t, string(got), `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":8192}}`)
	}
	got, err := RequestFromOpenAI([]byte(`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`), FromOpenAIOptions{NoDummySignature: true})
	if err != nil || strings.Contains(string(got), "thoughtSignature") {
		t.Fatalf("NoDummySignature: %s %v", got, err)
	}
}

func TestRequestFromOpenAIErrors(t *testing.T) {
	for _, in := range []string{
		`not json`,
		`{"messages":[]}`,
		`{"messages":[{"role":"system","content":"only"}]}`,
		`{"messages":[{"role":"wizard","content":"x"}]}`,
		`{"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{bad"}}]}]}`,
		`{"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
		`{"messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"nobody","content":"r"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,raw"}}]}]}`,
		// A file_id names an OpenAI upload Gemini cannot read, and a part type this translation
		// does not know is not dropped either: the model would answer without it.
		`{"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"file","file":{"file_id":"file-1"}}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"video_url","video_url":{"url":"https://x.test/a.mp4"}}]}]}`,
	} {
		if _, err := RequestFromOpenAI([]byte(in), FromOpenAIOptions{}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", in, err)
		}
	}
}

func TestRequestToOpenAI(t *testing.T) {
	in := `{"system_instruction":{"parts":[{"text":"Be brief."},{"text":"Really."}]},
		"contents":[
			{"role":"user","parts":[{"text":"Weather?"},{"inline_data":{"mime_type":"image/png","data":"iVBO"}},{"fileData":{"fileUri":"https://x.test/a.png","mimeType":"image/png"}}]},
			{"role":"model","parts":[{"text":"thinking...","thought":true},{"text":"Checking."},
				{"functionCall":{"name":"get_weather","args":{"city":"Paris","in_unit":"c"}},"thoughtSignature":"CiQB+/8="},
				{"functionCall":{"name":"get_time","args":{}}},
				{"functionCall":{"id":"own","name":"get_weather","args":{"city":"Rome"}}}]},
			{"role":"user","parts":[
				{"functionResponse":{"name":"get_weather","response":{"temp":21}}},
				{"functionResponse":{"id":"own","name":"get_weather","response":{"temp":25}}},
				{"functionResponse":{"name":"get_time","response":{"output":"12:00"}}},
				{"text":"Thanks"}]}],
		"tools":[{"functionDeclarations":[
			{"name":"get_weather","description":"d","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING","nullable":true},"type":{"type":"ARRAY","items":{"type":"INTEGER"}}},"required":["city"],"propertyOrdering":["city","type"]}},
			{"name":"get_time","parametersJsonSchema":{"type":"object","properties":{"tz":{"type":"string"}}}}]},
			{"googleSearch":{}}],
		"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_time"]}},
		"generationConfig":{"maxOutputTokens":300,"temperature":0.2,"topP":0.8,"topK":40,"stopSequences":["x","y","z","w","v"],
			"candidateCount":2,"seed":9,"presencePenalty":0.1,"frequencyPenalty":0.3,
			"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","properties":{"a":{"type":"NUMBER"}}},
			"thinkingConfig":{"thinkingBudget":8000,"includeThoughts":true}},
		"safetySettings":[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}]}`
	got, err := RequestToOpenAI([]byte(in), ToOpenAIOptions{Model: "gpt-4o", Stream: true, IncludeUsage: true})
	if err != nil {
		t.Fatal(err)
	}
	sigID := ToolID("call_1_0", "CiQB+/8=")
	jsonEq(t, string(got), `{"model":"gpt-4o","messages":[
		{"role":"system","content":"Be brief.\n\nReally."},
		{"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}},{"type":"image_url","image_url":{"url":"https://x.test/a.png"}}]},
		{"role":"assistant","content":"Checking.","tool_calls":[
			{"id":"`+sigID+`","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"in_unit\":\"c\"}"}},
			{"id":"call_1_1","type":"function","function":{"name":"get_time","arguments":"{}"}},
			{"id":"own","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
		{"role":"tool","tool_call_id":"`+sigID+`","content":"{\"temp\":21}"},
		{"role":"tool","tool_call_id":"own","content":"{\"temp\":25}"},
		{"role":"tool","tool_call_id":"call_1_1","content":"12:00"},
		{"role":"user","content":"Thanks"}],
		"max_tokens":300,"temperature":0.2,"top_p":0.8,"stop":["x","y","z","w"],"stream":true,"stream_options":{"include_usage":true},
		"tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":["string","null"]},"type":{"type":"array","items":{"type":"integer"}}},"required":["city"]}}},
			{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"type":"string"}}}}}],
		"tool_choice":{"type":"function","function":{"name":"get_time"}},
		"reasoning_effort":"medium",
		"response_format":{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object","properties":{"a":{"type":"number"}}}}},
		"seed":9,"presence_penalty":0.1,"frequency_penalty":0.3}`)

	got, err = RequestToOpenAI([]byte(in), ToOpenAIOptions{Model: "gpt-4o", DropSignatures: true})
	if err != nil || strings.Contains(string(got), SignatureMarker) || strings.Contains(string(got), `"stream"`) ||
		!strings.Contains(string(got), `"max_tokens":300`) || !strings.Contains(string(got), `"n":2`) {
		t.Fatalf("DropSignatures / no stream: %s %v", got, err)
	}
}

func TestRequestToOpenAIMappings(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"string system, no role", `{"systemInstruction":"S","contents":[{"parts":[{"text":"hi"}]}]}`,
			`{"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":"hi"}]}`},
		{"level, json object, modes", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}},"generationConfig":{"responseMimeType":"application/json","thinkingConfig":{"thinkingLevel":"LOW"}}}`,
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto","reasoning_effort":"low","response_format":{"type":"json_object"}}`},
		{"budget off and dynamic send nothing", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":-1,"includeThoughts":true}}}`,
			`{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
		{"high budget, json schema, none", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}},"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"object","additionalProperties":false},"thinkingConfig":{"thinkingBudget":20000}}}`,
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","reasoning_effort":"high","response_format":{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object","additionalProperties":false}}}}`},
		{"counts as Google's JSON writes int64", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","minProperties":"1","properties":{"tags":{"type":"ARRAY","minItems":"1","maxItems":"3","items":{"type":"STRING","minLength":"2","maxLength":10}},"minItems":{"type":"STRING"}}}}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":"ARRAY","maxItems":"5","items":{"type":"OBJECT","maxProperties":"2"}}}}`,
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","minProperties":1,"properties":{"tags":{"type":"array","minItems":1,"maxItems":3,"items":{"type":"string","minLength":2,"maxLength":10}},"minItems":{"type":"string"}}}}}],"response_format":{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"array","maxItems":5,"items":{"type":"object","maxProperties":2}}}}}`},
		{"a union with null, as @google/genai writes it", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"when":{"nullable":true,"anyOf":[{"type":"STRING"},{"type":"INTEGER"}]}}}}]}]}`,
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"when":{"anyOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]}}}}}]}`},
		{"tool results as the AI SDK wraps them", `{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"functionCall":{"id":"c1","name":"f","args":{}}},{"functionCall":{"id":"c2","name":"g","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"id":"c1","name":"f","response":{"name":"f","content":"18C"}}},{"functionResponse":{"id":"c2","name":"g","response":{"name":"other","content":"x"}}}]}]}`,
			`{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"c2","type":"function","function":{"name":"g","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"18C"},{"role":"tool","tool_call_id":"c2","content":"{\"name\":\"other\",\"content\":\"x\"}"}]}`},
		{"audio, pdf", `{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"audio/mpeg","data":"AA"}},{"inlineData":{"mimeType":"application/pdf","data":"JV"}}]}]}`,
			`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA","format":"mp3"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JV"}}]}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := RequestToOpenAI([]byte(c.in), ToOpenAIOptions{Model: "m"})
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, string(got), c.want)
		})
	}
	for _, in := range []string{`[]`, `{"contents":[]}`, `{"contents":[{"role":"wizard","parts":[{"text":"x"}]}]}`, `{"contents":"x"}`, `{`} {
		if _, err := RequestToOpenAI([]byte(in), ToOpenAIOptions{}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", in, err)
		}
	}
}

// OpenAI -> Gemini -> OpenAI keeps the conversation: messages, tools, results, ids with their
// thought signature.
func TestRequestRoundTrip(t *testing.T) {
	sig := "EpYBCpMBAb4+9vs="
	id := ToolID("call_0_0", sig)
	in := `{"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":"Weather in Paris?"},
		{"role":"assistant","content":"Checking.","tool_calls":[{"id":"` + id + `","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
		{"role":"tool","tool_call_id":"` + id + `","content":"{\"temp\":21}"},{"role":"user","content":"Thanks"}],
		"tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
		"tool_choice":"auto","max_tokens":100,"temperature":0.3}`
	g, err := RequestFromOpenAI([]byte(in), FromOpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The Gemini request as a Gemini client would send it back: calls get positional ids.
	back, err := RequestToOpenAI(g, ToOpenAIOptions{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	// Gemini sends no ids: the calls get "call_<turn>_<n>", here call_1_0 (turn 1).
	want := strings.ReplaceAll(in, "call_0_0", "call_1_0")
	jsonEq(t, string(back), want)
	var r struct {
		Messages []struct {
			ToolCalls []struct{ ID string } `json:"tool_calls"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(back, &r)
	if _, s := SplitToolID(r.Messages[2].ToolCalls[0].ID); s != sig {
		t.Fatalf("signature lost: %q", s)
	}
}

func TestToolIDs(t *testing.T) {
	for _, sig := range []string{"CiQBjz1rX8Yk+/abc==", "AAAA", "not base64!", "skip_thought_signature_validator", "x"} {
		id := ToolID("call_a_1", sig)
		for _, c := range id {
			if !(c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				t.Fatalf("id %q has %q", id, c)
			}
		}
		if b, s := SplitToolID(id); b != "call_a_1" || s != sig {
			t.Fatalf("%q -> %q -> %q %q", sig, id, b, s)
		}
	}
	if b, s := SplitToolID("call__tsx__ts_"); b != "call__tsx__ts_" || s != "" {
		t.Fatalf("no payload: %q %q", b, s)
	}
	if ToolID("x", "") != "x" {
		t.Fatal("empty signature")
	}
	if a, b := callID("r", "f", []byte("{}"), 0), callID("r", "f", []byte("{}"), 1); a == b || !strings.HasPrefix(a, "call_") || len(a) != len("call_12345678_0") {
		t.Fatalf("call ids %q %q", a, b)
	}
}

func TestSignReplayedCalls(t *testing.T) {
	const dummy = `"thoughtSignature":"` + DummySignature + `",`
	for _, c := range []struct{ name, in, want string }{
		{"unsigned turns get the dummy on their first call",
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]},` +
				`{"parts":[{"text":"Checking."},{"functionCall":{"name":"a","args":{}}},{"functionCall":{"name":"b"}}],"role":"model"},` +
				`{"role":"user","parts":[{"functionResponse":{"name":"a","response":{}}}]},` +
				`{"role":"model","parts":[{"function_call":{"name":"c"}}]}],"tools":[{"functionDeclarations":[{"name":"functionCall"}]}]}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]},` +
				`{"parts":[{"text":"Checking."},{` + dummy + `"functionCall":{"name":"a","args":{}}},{"functionCall":{"name":"b"}}],"role":"model"},` +
				`{"role":"user","parts":[{"functionResponse":{"name":"a","response":{}}}]},` +
				`{"role":"model","parts":[{` + dummy + `"function_call":{"name":"c"}}]}],"tools":[{"functionDeclarations":[{"name":"functionCall"}]}]}`},
		{"a turn signed by Gemini stays as it is",
			`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"a"},"thoughtSignature":"c2ln"},{"functionCall":{"name":"b"}}]},` +
				`{"role":"model","parts":[{"functionCall":{"name":"c"}},{"thought_signature":"c2ln","function_call":{"name":"d"}}]}]}`, ""},
		{"no calls", `{"contents":[{"role":"user","parts":[{"text":"functionCall"}]}]}`, ""},
		{"a call in a user turn is not the model's", `{"contents":[{"role":"user","parts":[{"functionCall":{"name":"a"}}]}]}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(c.in)
			got := SignReplayedCalls(in)
			if c.want == "" {
				if len(got) != len(in) || &got[0] != &in[0] {
					t.Fatalf("changed or copied: %s", got)
				}
				return
			}
			if !json.Valid(got) {
				t.Fatalf("not JSON: %s", got)
			}
			if string(got) != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestEmbedRequestToOpenAI(t *testing.T) {
	for name, tc := range map[string]struct {
		body  string
		batch bool
		want  string // "" for a bad request
	}{
		"one": {`{"content":{"parts":[{"text":"Hello"},{"text":"world"}]},"taskType":"RETRIEVAL_DOCUMENT","outputDimensionality":256}`, false,
			`{"model":"up","input":["Hello\nworld"],"encoding_format":"float","dimensions":256}`},
		"batch": {`{"requests":[{"model":"models/pub","content":{"parts":[{"text":"a"}]}},{"model":"models/pub","content":{"role":"user","parts":[{"text":"b"}]}}]}`, true,
			`{"model":"up","input":["a","b"],"encoding_format":"float"}`},
		"an image":         {`{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}}`, false, ""},
		"two sizes":        {`{"requests":[{"content":{"parts":[{"text":"a"}]},"outputDimensionality":8},{"content":{"parts":[{"text":"b"}]},"outputDimensionality":16}]}`, true, ""},
		"one size of two":  {`{"requests":[{"content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]},"outputDimensionality":16}]}`, true, ""},
		"no requests":      {`{"requests":[]}`, true, ""},
		"no content":       {`{"taskType":"RETRIEVAL_QUERY"}`, false, ""},
		"not a batch body": {`{"requests":{}}`, true, ""},
	} {
		got, err := EmbedRequestToOpenAI([]byte(tc.body), tc.batch, "up")
		switch {
		case tc.want == "" && !errors.Is(err, ErrBadRequest):
			t.Errorf("%s: %s, %v; want a bad request", name, got, err)
		case tc.want != "" && (err != nil || string(got) != tc.want):
			t.Errorf("%s: %s, %v\nwant %s", name, got, err, tc.want)
		}
	}
}

func TestEmbedResponseFromOpenAI(t *testing.T) {
	reply := `{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.5,-1e-3]},{"object":"embedding","index":0,"embedding":[1,2]}],"model":"up","usage":{"prompt_tokens":4,"total_tokens":4}}`
	got, err := EmbedResponseFromOpenAI([]byte(reply), true)
	if err != nil || string(got) != `{"embeddings":[{"values":[1,2]},{"values":[0.5,-1e-3]}]}` {
		t.Errorf("batch: %s, %v", got, err)
	}
	got, err = EmbedResponseFromOpenAI([]byte(`{"data":[{"index":0,"embedding":[0.25]}]}`), false)
	if err != nil || string(got) != `{"embedding":{"values":[0.25]}}` {
		t.Errorf("one: %s, %v", got, err)
	}
	for _, bad := range []string{`{"data":[]}`, `{"data":[{"index":0,"embedding":"AAAA"}]}`, `nope`} {
		if got, err := EmbedResponseFromOpenAI([]byte(bad), true); err == nil {
			t.Errorf("%s: %s, want an error", bad, got)
		}
	}
	if _, err := EmbedResponseFromOpenAI([]byte(reply), false); err == nil {
		t.Error("two vectors for embedContent: no error")
	}
}

func TestEmbedModels(t *testing.T) {
	in := `{"requests":[{"model":"models/pub","content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]}}]}`
	got, changed, err := EmbedModels([]byte(in), "gemini-embedding-001")
	if err != nil || !changed || !strings.Contains(string(got), `"model":"models/gemini-embedding-001"`) || strings.Contains(string(got), "models/pub") {
		t.Errorf("%s, %v", got, err)
	}
	same := `{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]}}]}`
	if got, changed, err := EmbedModels([]byte(same), "gemini-embedding-001"); err != nil || changed || string(got) != same {
		t.Errorf("a body that names the upstream id was rewritten: %s, %v", got, err)
	}
}

func TestCountModel(t *testing.T) {
	plain := `{"contents":[{"parts":[{"text":"a"}]}]}`
	if got, changed, err := CountModel([]byte(plain), "gemini-2.5-flash"); err != nil || changed || string(got) != plain {
		t.Errorf("a body without generateContentRequest: %s %v %v", got, changed, err)
	}
	in := `{"generateContentRequest":{"model":"models/fast","contents":[{"parts":[{"text":"a"}]}]}}`
	got, changed, err := CountModel([]byte(in), "gemini-2.5-flash")
	if err != nil || !changed || !strings.Contains(string(got), `"model":"models/gemini-2.5-flash"`) || strings.Contains(string(got), "models/fast") {
		t.Errorf("an alias in generateContentRequest: %s %v %v", got, changed, err)
	}
	same := `{"generateContentRequest":{"model":"models/gemini-2.5-flash","contents":[]}}`
	if got, changed, err := CountModel([]byte(same), "gemini-2.5-flash"); err != nil || changed || string(got) != same {
		t.Errorf("the upstream id already: %s %v %v", got, changed, err)
	}
}
