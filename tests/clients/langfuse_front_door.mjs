// Real-client check of the front door: the Langfuse JS SDK's prompt client (`@langfuse/client`,
// newest) pointed at Spanbridge with the test upstream as `[upstream] url`: prompt.get (text and
// chat, compile), prompt.create, and the dataset and health APIs through the same base URL.
//
// Usage: node langfuse_front_door.mjs HTTP_URL UPSTREAM_URL PUBLIC_KEY SECRET_KEY
import { createRequire } from "node:module";

// Resolved from NODE_PATH (the client cache), like the other client scripts.
const require = createRequire(process.env.NODE_PATH + "/");
const { LangfuseClient } = require("@langfuse/client");

const [httpUrl, upstreamUrl, publicKey, secretKey] = process.argv.slice(2);
const auth = "Basic " + Buffer.from(`${publicKey}:${secretKey}`).toString("base64");

function check(condition, message) {
  if (!condition) {
    console.error(`FAIL: ${message}`);
    process.exit(1);
  }
}

async function recorded(prefix, method) {
  const entries = await (await fetch(`${upstreamUrl}/__recorded`)).json();
  return entries.filter((e) => e.target.startsWith(prefix) && (!method || e.method === method));
}

const header = (entry, name) => (entry.headers.find(([key]) => key === name) || [])[1];

const langfuse = new LangfuseClient({ publicKey, secretKey, baseUrl: httpUrl });

const text = await langfuse.prompt.get("movie-critic", { cacheTtlSeconds: 0 });
check(text.version === 1, `text prompt version ${text.version}`);
const compiled = text.compile({ criticLevel: "expert", movie: "Dune 2" });
check(compiled === "As a expert movie critic, do you like Dune 2?", `compiled text prompt: ${compiled}`);
const chat = await langfuse.prompt.get("movie-critic-chat", { type: "chat", cacheTtlSeconds: 0 });
const messages = chat.compile({ criticLevel: "expert", movie: "Dune 2" });
check(
  JSON.stringify(messages.map((m) => [m.role, m.content])) ===
    JSON.stringify([["system", "You are an expert movie critic"], ["user", "Do you like Dune 2?"]]),
  `compiled chat prompt: ${JSON.stringify(messages)}`,
);
const created = await langfuse.prompt.create({
  name: "front-door-js",
  type: "text",
  prompt: "Hi {{name}} from JS",
  labels: ["production"],
});
check(created.version === 1 && created.compile({ name: "Ada" }) === "Hi Ada from JS", `prompt.create: ${created.prompt}`);
const again = await langfuse.prompt.get("front-door-js", { cacheTtlSeconds: 0 });
check(again.prompt === "Hi {{name}} from JS", `created prompt read back: ${again.prompt}`);

const health = await langfuse.api.health.health();
check(health.status === "OK", `health through the front door: ${JSON.stringify(health)}`);
await langfuse.api.datasets.create({ name: "front-door-js-ds" });
await langfuse.api.datasetItems.create({ datasetName: "front-door-js-ds", input: { q: 1 }, expectedOutput: { a: 2 } });
const dataset = await langfuse.dataset.get("front-door-js-ds");
check(dataset.items.length === 1 && dataset.items[0].input.q === 1, `dataset: ${JSON.stringify(dataset.items)}`);

const fetches = await recorded("/api/public/v2/prompts/movie-critic", "GET");
check(fetches.length >= 2 && header(fetches[0], "authorization") === auth, "prompt fetches reached the upstream with Authorization");
const posts = await recorded("/api/public/v2/prompts", "POST");
check(posts.some((p) => p.body_json && p.body_json.name === "front-door-js"), "prompt.create reached the upstream");
console.log("ok: Langfuse JS SDK (@langfuse/client) through the front door: prompts (text, chat, compile, create), dataset, health");
