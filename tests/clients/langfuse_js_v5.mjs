// Live test: the Langfuse JS SDK (`@langfuse/tracing` + `@langfuse/otel`'s LangfuseSpanProcessor,
// OTLP/HTTP JSON to /api/public/otel/v1/traces) with startActiveObservation and
// propagateAttributes, calling the fake model endpoint over plain fetch (tool call, then
// answer). Read back field by field through Spanbridge's read API.
//
// This SDK line (5.x) sends metadata strings as they are and other values as JSON text; it is
// not one of the SDKs whose values Spanbridge JSON-decodes, so a string that looks like JSON
// ("123", "true") must come back unchanged.
//
// Usage (run.sh sets SB_URL, SB_PK, SB_SK, SB_FAKE_LLM): node langfuse_js_v5.mjs
import { createRequire } from "node:module";

// ESM ignores NODE_PATH: resolve the SDK from there by hand.
const require = createRequire(process.env.NODE_PATH + "/");
const { NodeTracerProvider } = require("@opentelemetry/sdk-trace-node");
const { LangfuseSpanProcessor } = require("@langfuse/otel");
const { propagateAttributes, setLangfuseTracerProvider, startActiveObservation } = require("@langfuse/tracing");
const { readFileSync } = await import("node:fs");
const sdkVersion = JSON.parse(readFileSync(`${process.env.NODE_PATH}/@langfuse/tracing/package.json`, "utf8")).version;
const { SB_URL: url, SB_PK: pk, SB_SK: sk, SB_FAKE_LLM: fake } = process.env;
const auth = "Basic " + Buffer.from(`${pk}:${sk}`).toString("base64");
const FINAL_TEXT = "It is sunny in Paris, 21 degrees.";
const COST = 40 * 0.15e-6 + 12 * 0.6e-6;

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}
function equal(label, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) fail(`${label}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
}
const asJson = (v) => { if (typeof v !== "string") return v; try { return JSON.parse(v); } catch { return v; } };

const processor = new LangfuseSpanProcessor({ publicKey: pk, secretKey: sk, baseUrl: url, exportMode: "immediate" });
const provider = new NodeTracerProvider({ spanProcessors: [processor] });
// register() installs the async context manager, so nested observations find their parent.
provider.register();
setLangfuseTracerProvider(provider);

const tools = [{ type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
async function chat(messages) {
  const response = await fetch(`${fake}/v1/chat/completions`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages, tools }),
  });
  return response.json();
}

let traceId;
const metadata = { s: "abc", looks_like_number: "123", n: 1, b: true, obj: { k: "v" } };
const answer = await startActiveObservation("weather-agent", async (agent) => {
  traceId = agent.traceId;
  return propagateAttributes({ traceName: "lfjs-weather", userId: "user-lfjs", sessionId: "session-lfjs", tags: ["live", "js"], metadata: { team: "search" } }, async () => {
    const messages = [{ role: "system", content: "You are a weather bot." }, { role: "user", content: "Weather in Paris?" }];
    const first = await startActiveObservation("plan", async (generation) => {
      generation.update({ model: "gpt-4o-mini", input: messages, metadata, modelParameters: { temperature: 0.2 } });
      const out = await chat(messages);
      generation.update({ output: out.choices[0].message, usageDetails: { input: out.usage.prompt_tokens, output: out.usage.completion_tokens } });
      return out.choices[0].message;
    }, { asType: "generation" });
    const call = first.tool_calls[0];
    const result = await startActiveObservation("get_weather", async (tool) => {
      tool.update({ input: JSON.parse(call.function.arguments) });
      const r = { city: "Paris", forecast: "sunny", celsius: 21 };
      tool.update({ output: r });
      return r;
    }, { asType: "tool" });
    messages.push(first, { role: "tool", tool_call_id: call.id, content: JSON.stringify(result) });
    const final = await startActiveObservation("answer", async (generation) => {
      generation.update({ model: "gpt-4o-mini", input: messages, metadata });
      const out = await chat(messages);
      generation.update({ output: out.choices[0].message, usageDetails: { input: out.usage.prompt_tokens, output: out.usage.completion_tokens } });
      return out.choices[0].message.content;
    }, { asType: "generation" });
    agent.update({ output: final });
    return final;
  });
}, { asType: "agent" });
equal("answer", answer, FINAL_TEXT);
await provider.forceFlush();

let got;
for (let i = 0; i < 100; i++) {
  const r = await fetch(`${url}/api/public/traces/${traceId}`, { headers: { authorization: auth } });
  if (r.ok) { got = await r.json(); if (got.observations.length >= 4) break; }
  await new Promise((resolve) => setTimeout(resolve, 200));
}
if (!got || got.observations.length < 4) fail(`trace ${traceId} incomplete: ${JSON.stringify(got)}`);
// The recording proxy writes what the SDK sent (a golden fixture when SB_CAPTURE_DIR is set).
await fetch(`${url}/__capture/langfuse-js-5-tracing`, { method: "POST" });
equal("trace name", got.name, "lfjs-weather");
equal("user", got.userId, "user-lfjs");
equal("session", got.sessionId, "session-lfjs");
equal("tags", [...got.tags].sort(), ["js", "live"]);
equal("trace metadata team", got.metadata.team, "search");
const obs = got.observations;
const root = obs.find((o) => !o.parentObservationId);
equal("root type", root.type, "AGENT");
equal("root output", asJson(root.output), FINAL_TEXT);
const gens = obs.filter((o) => o.type === "GENERATION").sort((a, b) => a.startTime.localeCompare(b.startTime));
equal("generations", gens.map((g) => g.name), ["plan", "answer"]);
for (const g of gens) {
  equal(`${g.name} parent`, g.parentObservationId, root.id);
  equal(`${g.name} model`, g.model, "gpt-4o-mini");
  equal(`${g.name} usage`, [g.usageDetails.input, g.usageDetails.output, g.usageDetails.total], [40, 12, 52]);
  if (Math.abs(g.costDetails.total - COST) > 1e-12) fail(`${g.name} cost ${JSON.stringify(g.costDetails)}`);
  const input = asJson(g.input);
  equal(`${g.name} input system`, input[0], { role: "system", content: "You are a weather bot." });
  equal(`${g.name} input user`, input[1], { role: "user", content: "Weather in Paris?" });
  equal(`${g.name} metadata`, [g.metadata.s, g.metadata.looks_like_number, g.metadata.n, g.metadata.b, g.metadata.obj], ["abc", "123", "1", "true", { k: "v" }]);
}
equal("plan modelParameters", gens[0].modelParameters, { temperature: 0.2 });
equal("plan tool call", asJson(gens[0].output).tool_calls[0].function.name, "get_weather");
equal("answer output", asJson(gens[1].output).content, FINAL_TEXT);
const tool = obs.find((o) => o.type === "TOOL");
equal("tool name", tool.name, "get_weather");
equal("tool input", asJson(tool.input), { city: "Paris" });
equal("tool output", asJson(tool.output).forecast, "sunny");
if (Math.abs(got.totalCost - 2 * COST) > 1e-12) fail(`totalCost ${got.totalCost}`);
await provider.shutdown();
console.log(`ok: Langfuse JS SDK @langfuse/tracing ${sdkVersion}: trace ${traceId} read back field by field`);
