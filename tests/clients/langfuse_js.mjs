// Real-client check: the Langfuse JS SDK 3.x (npm `langfuse`; no OTLP: batches to
// `POST /api/public/ingestion`) sends a trace with a span, an event, a generation completed by
// its update in a later request, a trace update and a score; everything is read back through
// the read API with the values sent.
//
// Usage: node langfuse_js.mjs HTTP_URL PUBLIC_KEY SECRET_KEY
import { createRequire } from "node:module";

// The client libraries live in the cached node_modules named by NODE_PATH.
const require = createRequire(process.env.NODE_PATH + "/");
const { Langfuse } = require("langfuse");

const [httpUrl, publicKey, secretKey] = process.argv.slice(2);
const auth = "Basic " + Buffer.from(`${publicKey}:${secretKey}`).toString("base64");

function check(condition, message) {
  if (!condition) {
    console.error(`FAIL: ${message}`);
    process.exit(1);
  }
}

async function readTrace(traceId, ready) {
  const deadline = Date.now() + 30_000;
  let last = null;
  while (Date.now() < deadline) {
    const response = await fetch(`${httpUrl}/api/public/traces/${traceId}`, { headers: { Authorization: auth } });
    if (response.ok) {
      last = await response.json();
      if (ready(last)) return last;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  check(false, `trace ${traceId} not complete within 30 s: ${JSON.stringify(last)}`);
}

const byName = (trace, name) => {
  const found = trace.observations.find((o) => o.name === name);
  check(found, `observation ${name} missing: ${JSON.stringify(trace)}`);
  return found;
};
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// The tracing environment goes on every event the client sends.
const langfuse = new Langfuse({
  publicKey, secretKey, baseUrl: httpUrl, flushAt: 100, flushInterval: 60_000, environment: "staging",
});
const trace = langfuse.trace({
  name: "js-trace", userId: "js-user", sessionId: "js-session", input: { q: "hi" },
  metadata: { k: "v" }, tags: ["js"], release: "r2", version: "v2",
});
const span = trace.span({ name: "retrieve", input: { query: "hi" } });
span.event({ name: "cache-miss", level: "WARNING", statusMessage: "cold" });
span.end({ output: { docs: 2 } });
const generation = trace.generation({
  name: "chat", model: "gpt-4o", modelParameters: { temperature: 0.2, maxTokens: 64 },
  input: [{ role: "user", content: "hi" }], completionStartTime: new Date("2026-11-27T12:00:00.250Z"),
  startTime: new Date("2026-11-27T12:00:00.000Z"),
});
await langfuse.flushAsync(); // the update goes in a later request than its create
generation.end({
  output: { role: "assistant", content: "hello" },
  usage: { promptTokens: 1000, completionTokens: 500, totalTokens: 1500 },
});
trace.update({ output: { a: "hello" } });
trace.score({ name: "helpful", value: 1, dataType: "BOOLEAN", comment: "yes" });
await langfuse.shutdownAsync();

const got = await readTrace(trace.id, (t) => t.observations.length === 3 && t.output?.a === "hello"
  && t.scores.length === 1 && t.observations.some((o) => o.output?.content === "hello"));
for (const [key, expected] of [["name", "js-trace"], ["userId", "js-user"], ["sessionId", "js-session"],
  ["release", "r2"], ["version", "v2"], ["tags", ["js"]], ["metadata", { k: "v" }], ["input", { q: "hi" }],
  ["environment", "staging"]]) {
  check(same(got[key], expected), `trace ${key}: ${JSON.stringify(got[key])}`);
}
const retrieve = byName(got, "retrieve");
check(retrieve.id === span.id && retrieve.type === "SPAN" && retrieve.environment === "staging", `span: ${JSON.stringify(retrieve)}`);
check(same(retrieve.output, { docs: 2 }) && retrieve.endTime !== null, `span output: ${JSON.stringify(retrieve)}`);
const event = byName(got, "cache-miss");
check(event.type === "EVENT" && event.level === "WARNING" && event.statusMessage === "cold", `event: ${JSON.stringify(event)}`);
check(event.parentObservationId === span.id, `event parent: ${JSON.stringify(event)}`);
const chat = byName(got, "chat");
check(chat.id === generation.id && chat.type === "GENERATION" && chat.model === "gpt-4o", `generation: ${JSON.stringify(chat)}`);
check(same(chat.modelParameters, { temperature: 0.2, maxTokens: 64 }), `model parameters: ${JSON.stringify(chat.modelParameters)}`);
check(same(chat.input, [{ role: "user", content: "hi" }]), `generation input: ${JSON.stringify(chat.input)}`);
// `end()` stamps its own end time.
check(chat.startTime === "2026-11-27T12:00:00.000Z" && chat.endTime > chat.startTime
  && chat.completionStartTime === "2026-11-27T12:00:00.250Z", `generation times: ${JSON.stringify(chat)}`);
check(same(chat.usageDetails, { input: 1000, output: 500, total: 1500 }), `usage: ${JSON.stringify(chat.usageDetails)}`);
check(Math.abs(chat.totalCost - 0.0075) < 1e-9, `gpt-4o cost: ${JSON.stringify(chat.costDetails)}`);
const score = got.scores[0];
check(score.name === "helpful" && score.value === 1 && score.dataType === "BOOLEAN" && score.stringValue === "True"
  && score.comment === "yes", `score: ${JSON.stringify(score)}`);
console.log("langfuse js sdk 3.x: trace, span, event, generation + update, score ok");
