/**
 * A fuzzer over every route family of a running Doppel: the MetaStudio jobs API, ICE's RPC endpoint,
 * signed upload and download URLs, the admin API, the worker protocol, stray paths, and requests that
 * stop half-way. Each generated request is sent over real HTTP and its outcome checked against the
 * rules every answer must keep: never a 5xx; an error in the envelope of its path's dialect (Doppel's
 * own paths MetaStudio's `{error_code, error_msg}`, everything else Alibaba's); and never a hang —
 * answered, or the connection closed, within the idle timeout. Used by `test/e2e/fuzz.test.ts`
 * (bounded, in `npm test`) and `npm run fuzz` (longer, with counts).
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import net from "node:net";
import fc from "fast-check";
import { dialectOf } from "../../src/http/dialects/dialect.js";
import { createAdminToken } from "../../src/services/admin-tokens.service.js";
import { jobWaitingForTraining } from "./pipeline.js";
import { credentialsOf, ICE_VERSION, queryString, signAcs3 } from "./sdk-clients.js";
import { jobsUrl, type TestServer } from "./server.js";

export const FAMILIES = ["metastudio", "ice", "uploads", "downloads", "admin", "worker", "stray"] as const;
export type Family = (typeof FAMILIES)[number];

/** One request to send: raw enough to carry anything a client could. */
export interface FuzzRequest {
  readonly family: Family | "stalled";
  readonly method: string;
  /** Path and query, already encoded. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

/** What came back: an answer, or the server closing the connection without one. */
export interface FuzzOutcome {
  readonly status?: number;
  readonly text?: string;
  readonly closedWithoutAnswer?: boolean;
  readonly ms: number;
}

/** What the fuzzer needs of a server: a project with credentials, an operator, a job and a live claim. */
export interface FuzzTarget {
  readonly server: TestServer;
  readonly project: TestServer["projects"][number];
  readonly operator: string;
  readonly job: { readonly id: string; readonly uploadPaths: readonly string[] };
  /** A job the API fuzz may change or delete (the upload and download fuzz keep `job`). */
  readonly scratchJobId: string;
  readonly downloadPath: string;
  readonly outputPath: string;
  /** The server's idle timeout: no request may stay unanswered and open much longer. */
  readonly idleMs: number;
}

/** Sets a server up for fuzzing: a job with upload URLs and a downloadable file, a claimed training task. */
export async function prepareTarget(server: TestServer, idleMs: number): Promise<FuzzTarget> {
  const project = server.projects[0] as TestServer["projects"][number];
  const operator = (await createAdminToken(server.t.runtime, "Fuzz")).token;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(jobsUrl(server, project.id) + path, {
      method,
      headers: { "X-Auth-Token": project.token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // biome-ignore lint/suspicious/noExplicitAny: MetaStudio answers read field by field
    return (await res.json()) as Record<string, any>;
  };
  const created = await call("POST", "", { name: "Fuzz", video_multipart_count: 2 });
  const cover = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
    "base64",
  );
  await fetch(created.cover_upload_url, { method: "PUT", body: cover });
  const shown = await call("GET", `/${created.job_id}`);
  const scratch = await call("POST", "", { name: "Fuzz scratch" });
  const pathOf = (url: string) => url.slice(server.baseUrl.length);
  await jobWaitingForTraining(server.t.runtime, project.id, server.t.clock.now);
  const claim = await fetch(`${server.baseUrl}/worker/v1/claim`, {
    method: "POST",
    headers: { Authorization: `Bearer ${operator}`, "Content-Type": "application/json" },
    body: JSON.stringify({ worker: "fuzz" }),
  });
  const task = ((await claim.json()) as { task: { output_url: string } }).task;
  return {
    server,
    project,
    operator,
    job: {
      id: created.job_id,
      uploadPaths: [
        ...(created.training_video_upload_url as string[]),
        created.cover_upload_url,
        created.grant_file_upload_url,
        created.audio_upload_url,
      ].map(pathOf),
    },
    scratchJobId: scratch.job_id,
    downloadPath: pathOf(shown.cover_download_url),
    outputPath: pathOf(task.output_url),
    idleMs,
  };
}

// ---- generators ----------------------------------------------------------------------------------

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] as const;
/** Text of any kind a client could put in a parameter, percent-encoded where it must be. */
const anyText = fc.oneof(
  fc.constantFrom("", "0", "-1", "1e9", "null", "true", "../", "%", "%zz", "a b", "ä", "\u0000", "😀"),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.stringMatching(/^[0-9a-f]{32}$/),
);
const segment = fc.oneof(
  anyText.map(encodeURIComponent),
  fc.constantFrom("..", ".", "x", "%2F", "%00", "%ff"),
);
const queryOf = (keys: readonly string[]) =>
  fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...keys), anyText), anyText), { maxLength: 5 })
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&"));
const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? "null")),
  fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
);
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
  fc.constant(
    Buffer.concat([
      Buffer.from("000000186674797069736f6d0000020069736f6d69736f32", "hex"),
      Buffer.alloc(3000),
    ]),
  ),
);
const contentType = fc.constantFrom(
  "application/json",
  "application/x-www-form-urlencoded",
  "text/plain",
  "application/octet-stream",
  "multipart/form-data; boundary=x",
  "",
);

function withBody(method: string, body: Buffer, type: string): Pick<FuzzRequest, "body" | "headers"> {
  if (method === "GET" || method === "OPTIONS") return { headers: {} };
  return { body, headers: type === "" ? {} : { "content-type": type } };
}

/** Mostly `likely`, sometimes `other`: deep code paths need mostly valid requests to be reached. */
function mostly<T>(likely: fc.Arbitrary<T>, other: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: likely, weight: 4 }, { arbitrary: other, weight: 1 });
}

/** A body the MetaStudio routes would take, or nearly: create fields, commands, nested voice properties. */
const metaStudioBody = mostly(
  fc
    .oneof(
      fc.record({ name: anyText, video_multipart_count: fc.integer({ min: -1, max: 1001 }) }),
      fc.record({
        command: fc.constantFrom("GET_MULTIPART_UPLOADED", "SUBMITVERIFYING", "CONFIRM_PENDING", "X"),
      }),
      fc.record({
        name: anyText,
        tags: fc.array(anyText, { maxLength: 3 }),
        voice_properties: fc.jsonValue({ maxDepth: 3 }),
      }),
    )
    .map((v) => Buffer.from(JSON.stringify(v))),
  jsonBody,
);

function withAuth(
  method: string,
  path: string,
  body: Buffer,
  type: string,
  auth: Record<string, string>,
  family: Family,
): FuzzRequest {
  const sent = withBody(method, body, type);
  return { family, method, path, ...sent, headers: { ...sent.headers, ...auth } };
}

/** Requests of one route family against `target`. */
export function requestsOf(target: FuzzTarget, family: Family): fc.Arbitrary<FuzzRequest> {
  const project = target.project;
  const jobs = `/v1/${project.id}/digital-human-training-manage/user/jobs`;
  const job = target.scratchJobId;
  switch (family) {
    case "metastudio":
      return fc
        .record({
          method: mostly(fc.constantFrom("GET", "POST"), fc.constantFrom(...METHODS)),
          suffix: mostly(
            fc.constantFrom("", `/${job}`, `/${job}/command`),
            fc.oneof(
              segment.map((s) => `/${s}`),
              segment.map((s) => `/${job}/${s}`),
            ),
          ),
          project: mostly(fc.constant(project.id), fc.constantFrom("0".repeat(32), "x")),
          // The asset library and Doppel's events and verification APIs live beside the jobs API, under
          // the same authentication.
          area: fc.constantFrom("jobs", "assets", "webhooks", "events", "verification"),
          query: mostly(
            fc.constantFrom(
              "",
              "limit=5",
              "state=JOB_SUCCESS,TRAINING",
              "sort_dir=desc&sort_key=update_time",
              "asset_state=ACTIVED,DELETING&name=a",
              "mode=force",
            ),
            queryOf([
              "limit",
              "offset",
              "state",
              "create_since",
              "create_until",
              "sort_key",
              "name",
              "tag",
              "start_time",
              "asset_type",
              "asset_state",
              "asset_id",
              "mode",
            ]),
          ),
          auth: mostly(fc.constant("token"), fc.constantFrom("none", "garbage", "sdk-garbage")),
          body: metaStudioBody,
          type: mostly(fc.constant("application/json"), contentType),
        })
        .map((r) => {
          const base = {
            jobs,
            assets: `/v1/${project.id}/digital-assets`,
            webhooks: `/v1/${project.id}/doppel/webhooks`,
            events: `/v1/${project.id}/doppel/events`,
            verification: `/v1/${project.id}/doppel/jobs`,
          }[r.area];
          const suffix =
            r.area === "assets"
              ? r.suffix.replace("/command", "/restore")
              : r.area === "webhooks"
                ? r.suffix.replace("/command", "/redeliver")
                : r.area === "verification"
                  ? r.suffix.replace("/command", "/verification")
                  : r.suffix;
          const path = `${base.replace(project.id, r.project)}${suffix}${r.query ? `?${r.query}` : ""}`;
          const auth: Record<string, string> =
            r.auth === "token"
              ? { "x-auth-token": project.token }
              : r.auth === "garbage"
                ? { "x-auth-token": "dpl_forged" }
                : r.auth === "sdk-garbage"
                  ? {
                      authorization: "SDK-HMAC-SHA256 Access=X, SignedHeaders=host, Signature=00",
                      "x-sdk-date": "20260101T000000Z",
                    }
                  : {};
          return withAuth(r.method, path, r.body, r.type, auth, family);
        });
    case "ice":
      return fc
        .record({
          method: mostly(fc.constantFrom("GET", "POST"), fc.constantFrom("PUT", "DELETE")),
          action: mostly(
            fc.constantFrom(
              "ListAvatarTrainingJobs",
              "GetAvatarTrainingJob",
              "CreateAvatarTrainingJob",
              "UpdateAvatarTrainingJob",
              "SubmitAvatarTrainingJob",
              "CreateUploadMedia",
              "GetAvatar",
              "ListAvatars",
              "SetEventCallback",
              "GetEventCallback",
            ),
            anyText,
          ),
          params: fc.dictionary(
            fc.constantFrom(
              "JobId",
              "PageNo",
              "PageSize",
              "Status",
              "AvatarName",
              "Video",
              "MediaType",
              "AvatarId",
              "CallbackType",
              "CallbackURL",
              "EventTypeList",
              "AuthSwitch",
              "AuthKey",
            ),
            mostly(
              fc.constantFrom(
                job,
                "1",
                "10",
                "Init",
                "Anna",
                "video",
                "HTTP",
                "MNS",
                "on",
                "http://127.0.0.1:9/",
              ),
              anyText,
            ),
            { maxKeys: 4 },
          ),
          signed: mostly(fc.constant(true), fc.constant(false)),
          version: mostly(fc.constant(ICE_VERSION), fc.constantFrom("2017-01-01", "")),
        })
        .map((r): FuzzRequest => {
          const params = Object.fromEntries(
            Object.entries(r.params).map(([k, v]) => [k, v.replaceAll("\u0000", "")]),
          );
          if (r.signed && (r.method === "GET" || r.method === "POST")) {
            const signed = signAcs3(target.server, credentialsOf(project.key), params, {
              // Header values must be printable: an action that is not is sent unsigned below.
              action: r.action.replace(/[^\x21-\x7e]/g, "") || "x",
              version: r.version || ICE_VERSION,
              method: r.method,
              nonce: randomUUID(),
            });
            const path = signed.url.slice(target.server.baseUrl.length);
            return { family, method: r.method, path, headers: signed.headers };
          }
          const qs = queryString({ Action: r.action, Version: r.version, ...params });
          return { family, method: r.method, path: `/?${qs}`, headers: {} };
        });
    case "uploads":
      return fc
        .record({
          method: mostly(fc.constant("PUT"), fc.constantFrom("GET", "POST", "DELETE")),
          path: fc.oneof(
            { arbitrary: fc.constantFrom(...target.job.uploadPaths), weight: 4 },
            fc
              .constantFrom(...target.job.uploadPaths)
              .map((p) => p.replace(/signature=[0-9a-f]{8}/, "signature=00000000")),
            fc.constantFrom(...target.job.uploadPaths).map((p) => p.replace(/expires=\d+/, "expires=1")),
            fc
              .tuple(segment, segment, segment)
              .map(([a, b, c]) => `/uploads/${a}/${b}/${c}?expires=9999999999&signature=${"0".repeat(64)}`),
            segment.map((s) => `/uploads/media/${s}?expires=1&signature=x`),
          ),
          body: bytes,
          type: contentType,
        })
        .map((r) => ({ family, method: r.method, path: r.path, ...withBody(r.method, r.body, r.type) }));
    case "downloads":
      return fc
        .record({
          method: mostly(fc.constantFrom("GET", "HEAD"), fc.constantFrom("PUT", "POST")),
          path: fc.oneof(
            { arbitrary: fc.constant(target.downloadPath), weight: 3 },
            fc.constant(target.downloadPath.replace(/signature=[0-9a-f]{8}/, "signature=00000000")),
            fc
              .tuple(segment, segment)
              .map(([a, b]) => `/downloads/${a}/${b}?expires=9999999999&signature=${"0".repeat(64)}`),
            fc
              .tuple(segment, queryOf(["expires", "signature"]))
              .map(([a, q]) => `/downloads/${target.job.id}/${a}?${q}`),
            // The images of a verify report, by name: signed, so the name itself is what is fuzzed.
            segment.map((name) => {
              const path = `/downloads/${target.job.id}/verify/${name}`;
              return target.server.t.runtime.urls.sign("GET", path, target.server.t.clock.now + 3600_000);
            }),
            fc
              .tuple(segment, segment, queryOf(["expires", "signature"]))
              .map(([a, b, q]) => `/downloads/assets/${a}/${b}?${q}`),
          ),
        })
        .map((r) => ({ family, method: r.method, path: r.path, headers: {} }));
    case "admin":
      return fc
        .record({
          method: mostly(fc.constantFrom("GET", "POST"), fc.constantFrom(...METHODS)),
          path: fc.oneof(
            {
              arbitrary: fc.constantFrom(
                "/admin/v1/reviews",
                "/admin/v1/reviews?limit=5",
                "/admin/v1/tasks",
                `/admin/v1/reviews/${job}/reject`,
              ),
              weight: 4,
            },
            segment.map((s) => `/admin/v1/reviews/${s}/approve`),
            fc.tuple(segment, queryOf(["limit", "offset"])).map(([s, q]) => `/admin/v1/${s}?${q}`),
          ),
          auth: mostly(fc.constant("operator"), fc.constantFrom("project", "none", "garbage")),
          body: mostly(
            fc
              .record({ reason: anyText, comment: anyText }, { requiredKeys: [] })
              .map((v) => Buffer.from(JSON.stringify(v))),
            jsonBody,
          ),
          type: mostly(fc.constant("application/json"), contentType),
        })
        .map((r) => {
          const auth: Record<string, string> =
            r.auth === "operator"
              ? { authorization: `Bearer ${target.operator}` }
              : r.auth === "project"
                ? { authorization: `Bearer ${project.token}` }
                : r.auth === "garbage"
                  ? { authorization: "Bearer \u00ff" }
                  : {};
          return withAuth(r.method, r.path, r.body, r.type, auth, family);
        });
    case "worker":
      return fc
        .record({
          method: mostly(fc.constantFrom("POST", "PUT"), fc.constantFrom("GET", "DELETE")),
          path: fc.oneof(
            { arbitrary: fc.constant("/worker/v1/claim"), weight: 2 },
            fc
              .tuple(segment, fc.constantFrom("heartbeat", "fail", "x"))
              .map(([t, v]) => `/worker/v1/tasks/${t}/${v}`),
            {
              arbitrary: fc
                .array(segment, { minLength: 1, maxLength: 3 })
                .map((s) => target.outputPath.replace("{path}", s.join("/"))),
              weight: 3,
            },
            fc
              .tuple(segment, segment)
              .map(([t, n]) => `/worker/v1/tasks/${t}/1/inputs/${n}?expires=1&signature=00`),
          ),
          auth: mostly(fc.constant("operator"), fc.constant("none")),
          // `complete` would end the one live claim the output URLs need; the fuzz never sends it.
          body: fc.oneof(fc.constant(Buffer.from('{"worker":"fuzz","progress":0.5}')), jsonBody, bytes),
          type: mostly(fc.constant("application/json"), contentType),
        })
        .map((r) => {
          const auth: Record<string, string> =
            r.auth === "operator" ? { authorization: `Bearer ${target.operator}` } : {};
          return withAuth(r.method, r.path, r.body, r.type, auth, family);
        });
    case "stray":
      return fc
        .record({
          method: fc.constantFrom(...METHODS, "PROPFIND", "TRACE"),
          path: fc.array(segment, { maxLength: 4 }).map((s) => `/${s.join("/")}`),
          query: queryOf(["Action", "Version", "a"]),
        })
        .map((r) => ({
          family,
          method: r.method,
          path: `${r.path}${r.query ? `?${r.query}` : ""}`,
          headers: {},
        }));
  }
}

/**
 * A request that stops half-way: its head, or part of its body, and then silence. The server must
 * answer (it may refuse before the body) or close the connection within the idle timeout.
 */
export function stalledRequests(target: FuzzTarget): fc.Arbitrary<FuzzRequest> {
  const project = target.project;
  return fc
    .record({
      path: fc.constantFrom(
        `/v1/${project.id}/digital-human-training-manage/user/jobs`,
        "/",
        target.job.uploadPaths[0] as string,
        "/admin/v1/reviews/x/reject",
        "/worker/v1/claim",
        target.outputPath.replace("{path}", "stalled.bin"),
      ),
      auth: fc.boolean(),
      headOnly: fc.boolean(),
      sent: fc.nat({ max: 1000 }),
    })
    .map((r) => ({
      family: "stalled" as const,
      method:
        r.path === "/"
          ? "POST"
          : r.path.startsWith("/uploads") || r.path.includes("/outputs/")
            ? "PUT"
            : "POST",
      path: r.path,
      headers: {
        ...(r.auth && { "x-auth-token": project.token, authorization: `Bearer ${target.operator}` }),
        "content-type": "application/json",
        "content-length": String(r.sent + 5000),
        ...(r.headOnly && { "x-stalled-head": "1" }),
      },
      body: Buffer.alloc(r.sent, "{"),
    }));
}

// ---- sending and checking ------------------------------------------------------------------------

/** Sends a request over its own connection and reports what came back, giving up after `limitMs`. */
export function send(target: FuzzTarget, request: FuzzRequest, limitMs: number): Promise<FuzzOutcome> {
  const started = Date.now();
  const { port } = new URL(target.server.baseUrl);
  if (request.family === "stalled") return sendStalled(Number(port), request, limitMs, started);
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome: Omit<FuzzOutcome, "ms">) => {
      if (done) return;
      done = true;
      resolve({ ...outcome, ms: Date.now() - started });
    };
    const req = http.request(
      {
        host: "127.0.0.1",
        port: Number(port),
        method: request.method,
        path: request.path,
        headers: request.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          finish({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", () =>
          finish({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.setTimeout(limitMs, () => {
      req.destroy();
      finish({});
    });
    // The server may answer (and close) before the whole body is sent: the answer still counts.
    req.on("error", () => setTimeout(() => finish({ closedWithoutAnswer: true }), 50));
    req.end(request.body);
  });
}

function sendStalled(
  port: number,
  request: FuzzRequest,
  limitMs: number,
  started: number,
): Promise<FuzzOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), limitMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString("latin1");
      const ms = Date.now() - started;
      const status = /^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1];
      if (ms >= limitMs && status === undefined) resolve({ ms });
      else if (status === undefined) resolve({ closedWithoutAnswer: true, ms });
      else resolve({ status: Number(status), text: raw.slice(raw.indexOf("\r\n\r\n") + 4), ms });
    });
    socket.once("connect", () => {
      const headOnly = request.headers["x-stalled-head"] === "1";
      const lines = Object.entries(request.headers)
        .filter(([name]) => name !== "x-stalled-head")
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("");
      const head = `${request.method} ${request.path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${lines}`;
      // Half a head (no blank line), or a whole head and part of the body; then nothing more.
      socket.write(headOnly ? head : `${head}\r\n`);
      if (!headOnly && request.body) socket.write(request.body);
    });
  });
}

const ENVELOPE_KEYS = {
  metastudio: ["error_code", "error_msg"],
  ice: ["Code", "HostId", "Message", "Recommend", "RequestId"],
} as const;

/** What is wrong with an outcome, or undefined when it keeps every rule. */
export function problemOf(
  target: FuzzTarget,
  request: FuzzRequest,
  outcome: FuzzOutcome,
): string | undefined {
  const what = `${request.method} ${request.path.slice(0, 160)}`;
  if (outcome.status === undefined) {
    if (outcome.closedWithoutAnswer && request.family === "stalled") {
      // Closing a connection whose client went silent is the rule; it must not take much longer.
      return outcome.ms <= target.idleMs + 3000 ? undefined : `${what}: closed only after ${outcome.ms} ms`;
    }
    return outcome.closedWithoutAnswer
      ? `${what}: the connection closed without an answer`
      : `${what}: no answer and still open after ${outcome.ms} ms (a hang)`;
  }
  if (outcome.status >= 500) return `${what}: ${outcome.status} ${outcome.text?.slice(0, 300)}`;
  if (outcome.status < 400 || request.method === "HEAD") return undefined;
  let body: unknown;
  try {
    body = JSON.parse(outcome.text ?? "");
  } catch {
    return `${what}: ${outcome.status} with a body that is not JSON: ${outcome.text?.slice(0, 200)}`;
  }
  const dialect = dialectOf(request.path);
  const keys = Object.keys(body as object).sort();
  if (JSON.stringify(keys) !== JSON.stringify(ENVELOPE_KEYS[dialect])) {
    return `${what}: ${outcome.status} in the wrong envelope for ${dialect}: ${outcome.text?.slice(0, 200)}`;
  }
  return undefined;
}

/** Counts of what the fuzzer sent and got, by family and status. */
export class Tally {
  readonly #counts = new Map<string, Map<string, number>>();

  add(request: FuzzRequest, outcome: FuzzOutcome): void {
    const byStatus = this.#counts.get(request.family) ?? new Map<string, number>();
    const key =
      outcome.status === undefined
        ? outcome.closedWithoutAnswer
          ? "closed"
          : "hang"
        : String(outcome.status);
    byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
    this.#counts.set(request.family, byStatus);
  }

  /** One line per family: the number of requests and how they were answered. */
  lines(): string[] {
    return [...this.#counts].map(([family, byStatus]) => {
      const total = [...byStatus.values()].reduce((a, b) => a + b, 0);
      const statuses = [...byStatus].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s}×${n}`);
      return `${family.padEnd(10)} ${String(total).padStart(6)} requests: ${statuses.join(" ")}`;
    });
  }
}
