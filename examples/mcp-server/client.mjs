// SPDX-License-Identifier: MIT
// Call the example server's "whoami" tool with the official MCP SDK client,
// as an agent: the bearer token comes from `agentctl token --audience URL`
// (the agent's own process asks its broker; no secret is stored anywhere),
// or from $AGENTID_TOKEN when set (to present a given token).
//
//   node client.mjs http://127.0.0.1:3000/mcp
import { execFileSync } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = process.argv[2];
if (!url) {
  console.error("usage: client.mjs URL");
  process.exit(2);
}
const token =
  process.env.AGENTID_TOKEN ||
  execFileSync(process.env.AGENTCTL || "agentctl", ["token", "--audience", url], { encoding: "utf8" }).trim();

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "agentid-example-client", version: "0.1.0" });
try {
  await client.connect(transport);
  const result = await client.callTool({ name: "whoami", arguments: { greeting: "hello" } });
  for (const c of result.content) if (c.type === "text") console.log(c.text);
  await client.close();
} catch (e) {
  // StreamableHTTPError carries the HTTP status as code.
  console.log(`refused: ${e.constructor.name}${e.code ? ` (HTTP ${e.code})` : ""}: ${e.message}`);
  process.exit(1);
}
