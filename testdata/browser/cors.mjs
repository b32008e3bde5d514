// Run by TestCORSInChromium in a page of one origin against the router on another: the
// openai and @anthropic-ai/sdk npm packages as web apps use them (dangerouslyAllowBrowser),
// plain fetch as @google/genai and chat UIs send it, and the errors a page must be able to
// read. Each step's result, or the error it threw, goes to the page's own /report.
const cfg = await (await fetch('/config')).json();
const R = cfg.router;
const out = {};

async function step(name, fn) {
	try {
		out[name] = await fn();
	} catch (e) {
		out[name] = { threw: `${e?.constructor?.name}: ${e?.message}`, status: e?.status ?? null };
	}
}

async function readJSON(resp) {
	return {
		status: resp.status,
		retryAfter: resp.headers.get('retry-after'),
		provider: resp.headers.get('x-llm-router-provider'),
		body: await resp.json(),
	};
}

if (cfg.role === 'other') {
	// A page of an origin the router does not list: the browser must refuse it.
	await step('chat', async () => readJSON(await fetch(R + '/v1/chat/completions', {
		method: 'POST',
		headers: { authorization: 'Bearer ' + cfg.key, 'content-type': 'application/json' },
		body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
	})));
} else {
	const { default: OpenAI } = await import('/nm/openai/index.mjs');
	const openai = new OpenAI({ baseURL: R + '/v1', apiKey: cfg.key, dangerouslyAllowBrowser: true, maxRetries: 0 });

	await step('openai_chat', async () => {
		const { data, response } = await openai.chat.completions
			.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
			.withResponse();
		return { text: data.choices[0].message.content, provider: response.headers.get('x-llm-router-provider') };
	});
	await step('openai_stream', async () => {
		const stream = await openai.chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
		let text = '';
		for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
		return { text };
	});
	await step('openai_bad_key', async () => {
		const bad = new OpenAI({ baseURL: R + '/v1', apiKey: 'sk-not-a-gateway-key', dangerouslyAllowBrowser: true, maxRetries: 0 });
		await bad.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
		return { text: 'no error' };
	});
	await step('anthropic', async () => {
		const { default: Anthropic } = await import('/nm/@anthropic-ai/sdk/index.mjs');
		const anthropic = new Anthropic({ baseURL: R, apiKey: cfg.key, dangerouslyAllowBrowser: true, maxRetries: 0 });
		const msg = await anthropic.messages.create({ model: 'm', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
		return { text: msg.content[0].text };
	});
	await step('gemini', async () => readJSON(await fetch(R + '/v1beta/models/m:generateContent', {
		method: 'POST',
		headers: { 'x-goog-api-key': cfg.key, 'x-goog-api-client': 'google-genai-sdk/2.32.0 gl-node/web', 'content-type': 'application/json' },
		body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
	})));
	await step('responses', async () => readJSON(await fetch(R + '/v1/responses', {
		method: 'POST',
		headers: { authorization: 'Bearer ' + cfg.key, 'content-type': 'application/json' },
		body: JSON.stringify({ model: 'm', input: 'hi', store: false }),
	})));
	// The limited key allows one request a minute: the second is a 429 whose body and
	// Retry-After the page can read.
	for (const name of ['limited_1', 'limited_2']) {
		await step(name, async () => readJSON(await fetch(R + '/v1/chat/completions', {
			method: 'POST',
			headers: { authorization: 'Bearer ' + cfg.limitedKey, 'content-type': 'application/json' },
			body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
		})));
	}
}
await fetch('/report', { method: 'POST', body: JSON.stringify({ role: cfg.role, origin: location.origin, results: out }) });
