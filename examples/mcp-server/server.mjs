// SPDX-License-Identifier: MIT
// An MCP server (official TypeScript SDK, Streamable HTTP) that accepts
// only agentid access tokens addressed to itself. Everything it knows about
// agentid comes from the issuer URL: RFC 8414 metadata, the JWKS it names,
// and the Token Status List each token points to. See README.md.
//
//   node server.mjs --issuer http://127.0.0.1:8080 --resource http://127.0.0.1:3000/mcp [--listen 127.0.0.1]
import { inflateSync } from "node:zlib";
import { parseArgs } from "node:util";
import express from "express";
import { createRemoteJWKSet, jwtVerify, errors as joseErrors } from "jose";
import { z } from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } from "@modelcontextprotocol/sdk/server/auth/router.js";
import { InvalidTokenError } from "@modelcontextprotocol/sdk/server/auth/errors.js";

const { values: opts } = parseArgs({
  options: {
    issuer: { type: "string" },
    resource: { type: "string" },
    listen: { type: "string", default: "127.0.0.1" },
  },
});
if (!opts.issuer || !opts.resource) {
  console.error("usage: server.mjs --issuer URL --resource URL [--listen ADDR]");
  process.exit(2);
}
const issuer = opts.issuer;
const resource = new URL(opts.resource);

// RFC 8414 section 3.1: the well-known segment goes between host and path.
function metadataUrl(iss) {
  const u = new URL(iss);
  return new URL(`/.well-known/oauth-authorization-server${u.pathname.replace(/\/$/, "")}`, u).href;
}

async function fetchText(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

const asMetadata = JSON.parse(await fetchText(metadataUrl(issuer)));
if (asMetadata.issuer !== issuer) throw new Error(`metadata at ${metadataUrl(issuer)} is for ${asMetadata.issuer}`);
// jose refetches the JWKS when it meets an unknown kid (at most every 30 s)
// and keeps it 10 minutes; agentid publishes a next key long before it signs.
const jwks = createRemoteJWKSet(new URL(asMetadata.jwks_uri));

// Token Status List: one signed list per uri, kept for its stated ttl.
const statusLists = new Map();
async function statusList(uri) {
  // Only lists of our issuer: a token must not send us anywhere else.
  if (!uri.startsWith(issuer.replace(/\/$/, "") + "/")) throw new InvalidTokenError("status list is not the issuer's");
  const cached = statusLists.get(uri);
  const now = Date.now() / 1000;
  if (cached && now < cached.fetched + cached.ttl && now < cached.exp) return cached;
  const { payload } = await jwtVerify(await fetchText(uri), jwks, {
    issuer,
    typ: "statuslist+jwt",
    algorithms: ["EdDSA"],
    requiredClaims: ["sub", "iat", "exp"],
  });
  if (payload.sub !== uri || payload.status_list?.bits !== 1) throw new InvalidTokenError("malformed status list");
  const entry = {
    bits: inflateSync(Buffer.from(payload.status_list.lst, "base64url")),
    fetched: now,
    ttl: Number(payload.ttl ?? 0),
    exp: payload.exp,
  };
  statusLists.set(uri, entry);
  return entry;
}

// The SDK's requireBearerAuth calls this for every request.
const verifier = {
  async verifyAccessToken(token) {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer,
        audience: resource.href, // RFC 8707: tokens for this server only
        typ: "at+jwt", // RFC 9068: refuses grants and other JWTs
        algorithms: ["EdDSA"],
        requiredClaims: ["exp", "iat", "sub", "client_id", "jti"],
      }));
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) throw new InvalidTokenError(`${e.code}: ${e.message}`);
      throw e;
    }
    const ref = payload.status?.status_list;
    if (!ref || !Number.isInteger(ref.idx) || typeof ref.uri !== "string") throw new InvalidTokenError("no status claim");
    let list;
    try {
      list = await statusList(ref.uri);
    } catch (e) {
      if (e instanceof InvalidTokenError) throw e;
      throw new InvalidTokenError(`status list unavailable: ${e.message}`); // fail closed
    }
    if (ref.idx >= list.bits.length * 8 || (list.bits[ref.idx >> 3] >> (ref.idx & 7)) & 1)
      throw new InvalidTokenError("token revoked");
    return {
      token,
      clientId: payload.client_id,
      scopes: typeof payload.scope === "string" ? payload.scope.split(" ") : [],
      expiresAt: payload.exp,
      resource, // jose checked that aud is (or contains) exactly this
      extra: { sub: payload.sub, act: payload.act },
    };
  },
};

function actors(act) {
  const chain = [];
  for (let a = act; a && chain.length < 16; a = a.act) chain.push(a.sub);
  return chain.join(" > ");
}

function mcpServer(auth) {
  const server = new McpServer({ name: "agentid-example", version: "0.1.0" });
  server.registerTool(
    "whoami",
    {
      description: "Say which agent is calling, for whom, and through whom",
      inputSchema: { greeting: z.string().optional() },
    },
    async ({ greeting }) => ({
      content: [
        {
          type: "text",
          text: `${greeting ?? "hello"} ${auth.clientId}, acting for ${auth.extra.sub}; actors: ${actors(auth.extra.act)}; scopes: ${auth.scopes.join(" ")}`,
        },
      ],
    }),
  );
  return server;
}

const app = express();
app.use(express.json());
// RFC 9728 protected resource metadata (and a copy of the issuer's RFC 8414
// metadata), from the SDK.
app.use(mcpAuthMetadataRouter({ oauthMetadata: asMetadata, resourceServerUrl: resource, resourceName: "agentid example" }));
// 401 with WWW-Authenticate (resource_metadata=...) for anything else.
const bearer = requireBearerAuth({
  verifier,
  resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(resource),
  expectedResource: resource,
});
// Stateless Streamable HTTP: a server and transport per request.
app.post(resource.pathname, bearer, async (req, res) => {
  const server = mcpServer(req.auth);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => {
    transport.close();
    server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});
app.all(resource.pathname, bearer, (req, res) => res.status(405).set("Allow", "POST").end());

const port = Number(resource.port || (resource.protocol === "https:" ? 443 : 80));
app.listen(port, opts.listen, () => console.log(`listening on ${opts.listen}:${port}, resource ${resource.href}`));
