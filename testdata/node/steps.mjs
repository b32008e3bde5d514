// The shape every script here shares: named steps, each recorded as its result or as the
// error it threw (with the HTTP status an SDK error carries), then printed as one JSON object
// on stdout for the Go test that ran the script.
export const out = {};

export async function step(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { error: String(e && e.message ? e.message : e), status: e?.status };
  }
}

export function report() {
  console.log(JSON.stringify(out));
}
