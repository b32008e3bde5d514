// The cases every LangChain script here runs (node_libs_test.go): for each upstream dialect,
// a tool round invoked whole and streamed (chunks concatenated as LangChain apps do), a turn
// with thinking both ways, and a stream its upstream cuts; then a model whose every target is
// rate limited. chat(name, thinking) makes the chat model.
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { z } from 'zod';
import { out, report } from './steps.mjs';

const weather = tool(async ({ city }) => (city === 'Paris' ? '18C' : 'unknown'), {
  name: 'get_weather',
  description: 'The weather in a city',
  schema: z.object({ city: z.string() }),
});

function header(h, name) {
  if (!h) return '';
  return (typeof h.get === 'function' ? h.get(name) : h[name]) ?? '';
}

function errorOf(e) {
  return {
    error: String(e?.message ?? e) || 'error without a message',
    status: e?.status ?? e?.response?.status,
    retryAfter: header(e?.headers ?? e?.response?.headers, 'retry-after'),
  };
}

// What a message says: its text, its reasoning in any of the shapes LangChain providers use,
// its finish reason and usage.
function said(m) {
  let reasoning = m.additional_kwargs?.reasoning_content ?? '';
  if (Array.isArray(m.content)) {
    for (const b of m.content) {
      if (b.type === 'thinking') reasoning += b.thinking ?? '';
      else if (b.type === 'reasoning') reasoning += b.reasoning ?? '';
    }
  }
  const rm = m.response_metadata ?? {};
  return {
    text: m.text ?? '', reasoning,
    finish: rm.stop_reason ?? rm.finish_reason ?? rm.finishReason ?? m.additional_kwargs?.stop_reason ?? '',
    usage: m.usage_metadata ? { input: m.usage_metadata.input_tokens, output: m.usage_metadata.output_tokens } : null,
  };
}

async function streamed(model, messages) {
  let acc;
  for await (const c of await model.stream(messages)) acc = acc ? acc.concat(c) : c;
  return acc;
}

async function round(model, stream) {
  try {
    const llm = model.bindTools([weather]);
    const messages = [new HumanMessage('Weather in Paris?')];
    const send = (ms) => (stream ? streamed(llm, ms) : llm.invoke(ms));
    const first = await send(messages);
    const call = first.tool_calls?.[0];
    if (!call) return { error: 'no tool call: ' + JSON.stringify(first) };
    messages.push(first, new ToolMessage({ content: await weather.invoke(call.args), tool_call_id: call.id }));
    const second = await send(messages);
    const a = said(first), b = said(second);
    return {
      text: b.text, city: call.args.city, finishes: [a.finish, b.finish],
      usage: a.usage && b.usage ? { input: a.usage.input + b.usage.input, output: a.usage.output + b.usage.output } : null,
    };
  } catch (e) {
    return errorOf(e);
  }
}

async function once(model, stream) {
  let text = '';
  try {
    if (!stream) return said(await model.invoke('hi'));
    let acc;
    for await (const c of await model.stream('hi')) {
      text += c.text ?? '';
      acc = acc ? acc.concat(c) : c;
    }
    return acc ? said(acc) : { text, error: 'empty stream' };
  } catch (e) {
    return { text, ...errorOf(e) };
  }
}

export async function run(chat) {
  out.upstreams = {};
  for (const api of ['openai', 'anthropic', 'gemini']) {
    const o = (out.upstreams[api] = {});
    o.whole = await round(chat('tool-' + api), false);
    o.stream = await round(chat('tool-' + api), true);
    o.think = await once(chat('think-' + api, true), false);
    o.thinkStream = await once(chat('think-' + api, true), true);
    o.broken = await once(chat('broken-' + api), true);
  }
  out.limited = { whole: await once(chat('limited'), false), stream: await once(chat('limited'), true) };
  report();
}
