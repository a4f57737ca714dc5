/**
 * Shared fixtures for the signature verifier tests: an in-memory key store and nonce store, a local
 * HTTP server that records exactly what a real SDK put on the wire, and request tampering helpers.
 */

import { once } from "node:events";
import http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { expect } from "vitest";
import type {
  AccessKeyRecord,
  IncomingSignedRequest,
  Principal,
  VerifierDeps,
} from "../../../src/auth/signed-request.js";
import { DEFAULT_MAX_CLOCK_SKEW_MS } from "../../../src/auth/signed-request.js";
import { DoppelError, type ErrorCode } from "../../../src/domain/errors.js";

/** The SDKs are CommonJS with `exports.default`; `require` gives the shapes their typings describe. */
export const requireCjs = createRequire(import.meta.url);

export const PROJECT_ID = "0a1b2c3d4e5f40718293a4b5c6d7e8f9";
export const ACCESS_KEY: AccessKeyRecord = {
  accessKeyId: "DOPPELAK0123456789AB",
  secret: "s3cr3t/Secret+Key=With~Odd!Chars",
  projectId: PROJECT_ID,
};
/** A key of another project, in every fake world: a verifier must resolve the key a request names. */
export const OTHER_KEY: AccessKeyRecord = {
  accessKeyId: "DOPPELAKOTHER0000000",
  secret: "another-project's/secret",
  projectId: "ffeeddccbbaa40998877665544332211",
};

/** Who a request signed with `key` under `scheme` must resolve to: the key's own project and id. */
export function principalOf(scheme: Principal["scheme"], key: AccessKeyRecord = ACCESS_KEY): Principal {
  return { projectId: key.projectId, accessKeyId: key.accessKeyId, scheme };
}

interface FakeWorld {
  readonly deps: VerifierDeps;
  /** Nonces claimed so far, as `accessKeyId nonce` → expiry. */
  readonly nonces: Map<string, number>;
}

/** Deps backed by maps; `now` is fixed so skew tests are exact. */
export function fakeWorld(
  nowMs: number,
  keys: readonly AccessKeyRecord[] = [ACCESS_KEY, OTHER_KEY],
): FakeWorld {
  const byId = new Map(keys.map((key) => [key.accessKeyId, key]));
  const nonces = new Map<string, number>();
  return {
    nonces,
    deps: {
      findAccessKey: async (id) => byId.get(id),
      claimNonce: async (id, nonce, expiresAtMs) => {
        const key = `${id} ${nonce}`;
        if (nonces.has(key)) return false;
        nonces.set(key, expiresAtMs);
        return true;
      },
      now: () => nowMs,
      maxClockSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS,
    },
  };
}

/** A request exactly as it arrived at the capture server, plus the server time it arrived at. */
export interface Captured extends IncomingSignedRequest {
  readonly receivedAtMs: number;
}

/**
 * Starts an HTTP server on 127.0.0.1 (random port), runs `send` against it and returns every request
 * received, converted the way Doppel's HTTP layer does: path and raw query split at the first `?`,
 * headers as Node lowercases and joins them, body bytes untouched. Answers each with a small JSON body
 * that both SDKs accept as success.
 */
async function captureRequests(send: (hostAndPort: string) => Promise<void>): Promise<Captured[]> {
  const captured: Captured[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(",") : value;
      }
      captured.push({
        method: req.method ?? "GET",
        path: q === -1 ? url : url.slice(0, q),
        rawQuery: q === -1 ? "" : url.slice(q + 1),
        headers,
        body: Buffer.concat(chunks),
        receivedAtMs: Date.now(),
      });
      res.setHeader("content-type", "application/json");
      res.setHeader("x-request-id", "req-1");
      res.end(JSON.stringify({ RequestId: "req-1", Success: true }));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  try {
    await send(`127.0.0.1:${port}`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
  return captured;
}

/** Captures exactly one request. */
export async function captureOne(send: (hostAndPort: string) => Promise<void>): Promise<Captured> {
  const all = await captureRequests(send);
  expect(all).toHaveLength(1);
  return all[0] as Captured;
}

/** Runs a verifier and returns the DoppelError it rejected with, failing on success or any other error. */
export async function rejection(run: Promise<unknown>): Promise<DoppelError> {
  try {
    await run;
  } catch (error) {
    if (error instanceof DoppelError) return error;
    throw new Error(`expected a DoppelError, got ${String(error)}`, { cause: error });
  }
  throw new Error("expected the verifier to reject, but it accepted the request");
}

/** Asserts a rejection with the given code and returns the error for message checks. */
export async function expectRejected(run: Promise<unknown>, code: ErrorCode): Promise<DoppelError> {
  const error = await rejection(run);
  expect(error.code, error.message).toBe(code);
  return error;
}

/** A copy of the request with some fields replaced. */
export function withChanges(
  req: IncomingSignedRequest,
  changes: Partial<IncomingSignedRequest>,
): IncomingSignedRequest {
  return { ...req, ...changes };
}

/** A copy with one header set (or removed, when value is undefined). */
export function withHeader(
  req: IncomingSignedRequest,
  name: string,
  value: string | undefined,
): IncomingSignedRequest {
  const headers: Record<string, string | undefined> = { ...req.headers };
  if (value === undefined) delete headers[name];
  else headers[name] = value;
  return { ...req, headers };
}

/** Replaces one hex/Base64 character at `index` with a different character of the same alphabet. */
export function changeChar(text: string, index: number, alphabet: string): string {
  const i = index % text.length;
  const current = text[i] ?? "";
  const offset = alphabet.indexOf(current);
  const next = alphabet[(offset + 1) % alphabet.length] ?? "";
  return `${text.slice(0, i)}${next}${text.slice(i + 1)}`;
}

export const HEX_DIGITS = "0123456789abcdef";
export const BASE64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Query values that exercise every encoding difference between the SDKs and the wire. */
export const AWKWARD_VALUES = [
  "a b",
  "雪花 ❄ snow",
  "star*",
  "tilde~",
  "quote'",
  "bang!",
  "paren(",
  "close)",
  "plus+sign",
  "percent%20literal",
  "amp&eq=",
  "slash/colon:semi;",
  "",
] as const;

const OpenApi = requireCjs("@alicloud/openapi-client") as typeof import("@alicloud/openapi-client");
const OpenApiUtil = (requireCjs("@alicloud/openapi-util") as typeof import("@alicloud/openapi-util")).default;
const TeaUtil = requireCjs("@alicloud/tea-util") as typeof import("@alicloud/tea-util");

/** One ICE RPC call as a test describes it. */
export interface IceCall {
  action: string;
  method?: "GET" | "POST";
  query?: Record<string, unknown>;
  body?: Record<string, unknown>;
}

/**
 * Calls ICE the way the generated `@alicloud/ice20201109` client does (RPC style through `callApi`),
 * signed with V3 (`ACS3-HMAC-SHA256`) or `v2` (RPC v1 HMAC-SHA1) by `ACCESS_KEY` unless told otherwise,
 * and captures the request as sent.
 */
export function sendIceWithSdk(
  call: IceCall,
  signing: "v3" | "v2",
  secret = ACCESS_KEY.secret,
  accessKeyId = ACCESS_KEY.accessKeyId,
): Promise<Captured> {
  return captureOne(async (hostAndPort) => {
    const client = new OpenApi.default(
      new OpenApi.Config({
        accessKeyId,
        accessKeySecret: secret,
        endpoint: hostAndPort,
        protocol: "http",
        ...(signing === "v2" && { signatureAlgorithm: "v2" }),
      }),
    );
    const params = new OpenApi.Params({
      action: call.action,
      version: "2020-11-09",
      protocol: "HTTPS",
      pathname: "/",
      method: call.method ?? "POST",
      authType: "AK",
      style: "RPC",
      reqBodyType: "formData",
      bodyType: "json",
    });
    const request = new OpenApi.OpenApiRequest({
      query: OpenApiUtil.query(call.query ?? {}),
      ...(call.body ? { body: OpenApiUtil.parseToMap(call.body) } : {}),
    });
    await client.callApi(params, request, new TeaUtil.RuntimeOptions({}));
  });
}
