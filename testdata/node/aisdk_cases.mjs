// The cases every AI SDK provider script here runs (node_libs_test.go): for each upstream
// dialect, a tool round whole (generateText) and streamed (streamText) with the SDK running the
// tool, a turn with thinking both ways, and a stream its upstream cuts; then a model whose every
// target is rate limited. model(name) makes the provider's model; thinking is the provider
// options that ask for reasoning.
import { generateText, streamText, tool, stepCountIs } from 'ai';
import { z } from 'zod';
import { out, report } from './steps.mjs';

globalThis.AI_SDK_LOG_WARNINGS = false;

let city = '';
const tools = {
  get_weather: tool({
    description: 'The weather in a city',
    inputSchema: z.object({ city: z.string() }),
    execute: async (input) => {
      city = input.city;
      return input.city === 'Paris' ? '18C' : 'unknown';
    },
  }),
};

const usage = (u) => (u ? { input: u.inputTokens, output: u.outputTokens } : null);

function errorOf(e) {
  return {
    error: String(e?.message ?? e) || 'error without a message',
    status: e?.statusCode ?? e?.status,
    retryAfter: e?.responseHeaders?.['retry-after'] ?? '',
  };
}

// A streamed call read as an app would, every part of fullStream; an error part is the
// call's error.
async function streamed(args) {
  const r = streamText({ ...args, maxRetries: 0, onError: () => {} });
  let text = '', reasoning = '', error = null;
  const finishes = [];
  let total = null;
  for await (const p of r.fullStream) {
    if (p.type === 'text-delta') text += p.text;
    else if (p.type === 'reasoning-delta') reasoning += p.text;
    else if (p.type === 'finish-step') finishes.push(p.finishReason);
    else if (p.type === 'finish') total = p.totalUsage;
    else if (p.type === 'error') error = p.error;
  }
  if (error) return { text, ...errorOf(error) };
  return { text, reasoning, finishes, usage: usage(total) };
}

async function whole(args) {
  try {
    const r = await generateText({ ...args, maxRetries: 0 });
    return { text: r.text, reasoning: r.reasoningText ?? '', finishes: r.steps.map((s) => s.finishReason), usage: usage(r.totalUsage) };
  } catch (e) {
    return errorOf(e);
  }
}

export async function run(model, thinking) {
  out.upstreams = {};
  for (const api of ['openai', 'anthropic', 'gemini']) {
    const o = (out.upstreams[api] = {});
    const round = { model: model('tool-' + api), prompt: 'Weather in Paris?', tools, stopWhen: stepCountIs(3) };
    const think = { model: model('think-' + api), prompt: 'Think first.', providerOptions: thinking };
    city = '';
    o.whole = { ...(await whole(round)), city };
    city = '';
    o.stream = { ...(await streamed(round)), city };
    o.think = await whole(think);
    o.thinkStream = await streamed(think);
    o.broken = await streamed({ model: model('broken-' + api), prompt: 'hi' });
  }
  out.limited = {
    whole: await whole({ model: model('limited'), prompt: 'hi' }),
    stream: await streamed({ model: model('limited'), prompt: 'hi' }),
  };
  report();
}
