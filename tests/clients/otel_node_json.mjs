// Real-client check for OTLP/HTTP JSON: the OpenTelemetry JS SDK's HTTP exporter sends
// application/json. Exports a root span and a chat generation, then reads the trace back.
// Usage: node otel_node_json.mjs HTTP_URL PUBLIC_KEY SECRET_KEY  (NODE_PATH must hold the SDK)
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_PATH + "/");
const { BasicTracerProvider, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-http");
const api = require("@opentelemetry/api");

const [httpUrl, publicKey, secretKey] = process.argv.slice(2);
const auth = "Basic " + Buffer.from(`${publicKey}:${secretKey}`).toString("base64");
const exporter = new OTLPTraceExporter({ url: `${httpUrl}/v1/traces`, headers: { Authorization: auth } });
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer("spanbridge-client-check");

const root = tracer.startSpan("agent-run", { attributes: { "langfuse.trace.name": "trace-http-json", "user.id": "user-js", "session.id": "session-js" } });
const ctx = api.trace.setSpan(api.context.active(), root);
const child = tracer.startSpan("chat gpt-4o-mini", {
  attributes: { "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 7 },
}, ctx);
child.end();
root.end();
await provider.forceFlush();
await provider.shutdown();

const traceId = root.spanContext().traceId;
const fail = (message) => { console.error(`FAIL: ${message}`); process.exit(1); };
const response = await fetch(`${httpUrl}/api/public/traces/${traceId}`, { headers: { Authorization: auth } });
if (response.status !== 200) fail(`trace ${traceId}: HTTP ${response.status}`);
const trace = await response.json();
if (trace.name !== "trace-http-json") fail(`trace name ${trace.name}`);
if (trace.userId !== "user-js" || trace.sessionId !== "session-js") fail(`user/session ${trace.userId} ${trace.sessionId}`);
const generation = trace.observations.find((o) => o.id === child.spanContext().spanId);
if (!generation) fail(`generation missing: ${JSON.stringify(trace.observations)}`);
if (generation.parentObservationId !== root.spanContext().spanId) fail(`parent ${generation.parentObservationId}`);
if (generation.type !== "GENERATION" || generation.model !== "gpt-4o-mini") fail(`type/model ${generation.type} ${generation.model}`);
if (generation.usageDetails.input !== 11 || generation.usageDetails.output !== 7 || generation.usageDetails.total !== 18) fail(`usage ${JSON.stringify(generation.usageDetails)}`);
console.log(`ok: OpenTelemetry JS SDK over http-json: trace ${traceId} read back`);
