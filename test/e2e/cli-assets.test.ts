/**
 * `doppel assets` (list, show, download, export) as a process, against a server on a real port. Assets
 * are published straight into the store (test/support/assets.ts); the export's is a real package of the
 * reference trainer. Download is checked for what it writes, for resuming a cut download (a `.part`
 * left behind, servers that ignore or garble the Range) and for refusing bytes that do not match.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AvatarManifest } from "../../src/pipeline/avatar-package.js";
import { assetPrefix } from "../../src/pipeline/stages/package.stage.js";
import { referenceTrainer } from "../../src/pipeline/trainers/reference.trainer.js";
import type { Runtime } from "../../src/services/runtime.js";
import { publishedJob, sha256 } from "../support/assets.js";
import { CLI, doppel, doppelFails } from "../support/cli.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { makeInput, runOf } from "../support/training-input.js";

interface DownloadJson {
  asset_id: string;
  out: string;
  size: number;
  received: number;
  files: Array<{ path: string; size: number; sha256: string; status: string }>;
}

/** Replaces an asset's package in the store with `files` and a manifest listing them. */
async function publishPackage(
  runtime: Runtime,
  assetId: string,
  files: Record<string, Buffer>,
  manifestFields: Record<string, unknown> = {},
): Promise<Record<string, Buffer>> {
  const prefix = `${assetPrefix(assetId)}package/`;
  await runtime.blobs.deletePrefix(prefix);
  for (const [path, bytes] of Object.entries(files)) {
    await runtime.blobs.put(`${prefix}${path}`, Readable.from([bytes]));
  }
  const manifest = Buffer.from(
    JSON.stringify({
      format: "doppel-avatar",
      version: 1,
      ...manifestFields,
      files: Object.entries(files)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([path, bytes]) => ({ path, size: bytes.length, sha256: sha256(bytes) })),
    }),
  );
  await runtime.blobs.put(`${prefix}manifest.json`, Readable.from([manifest]));
  return { ...files, "manifest.json": manifest };
}

/** The sha256 of each file, by path: compared instead of the bytes (vitest compares Buffers byte by byte, slowly). */
function digests(files: Record<string, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([path, bytes]) => [path, sha256(bytes)]));
}

/** Every file under `dir`, by `/`-separated relative path. */
async function filesUnder(dir: string): Promise<Record<string, Buffer>> {
  const found: Record<string, Buffer> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    found[relative(dir, full).split("\\").join("/")] = await readFile(full);
  }
  return found;
}

describe("doppel assets against a running server", () => {
  let server: TestServer;
  let dir: string;
  /** Environment of every CLI call: the server and project 0's token. */
  let env: NodeJS.ProcessEnv;
  let runtime: Runtime;
  const publish = (name: string, project = 0) =>
    publishedJob(runtime, server.projects[project]?.id as string, server.t.clock.now, name);
  const assets = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    doppel(["assets", ...args], { ...env, ...extra });
  const fails = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    doppelFails(["assets", ...args], { ...env, ...extra });

  beforeAll(async () => {
    server = await startTestServer("sqlite", [0, 0]);
    runtime = server.t.runtime;
    dir = mkdtempSync(join(tmpdir(), "doppel-cli-assets-"));
    const project = server.projects[0];
    env = {
      DOPPEL_ENDPOINT: server.baseUrl,
      DOPPEL_PROJECT_ID: project?.id,
      DOPPEL_TOKEN: project?.token,
      DOPPEL_ACCESS_KEY_ID: "",
      DOPPEL_SECRET_ACCESS_KEY: "",
      TMPDIR: join(dir, "tmp"),
    };
    mkdirSync(join(dir, "tmp"));
  });

  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("lists the project's assets as a table, filtered and paged, and shows one with its files", async () => {
    const alice = await publish("Alice studio");
    server.t.clock.set(server.t.clock.now + 1000);
    const bob = await publish("Bob outdoors");
    server.t.clock.set(server.t.clock.now + 1000);
    const other = await publish("Alice elsewhere", 1);

    // Independent, so side by side: each is a process start. One signs with the access key.
    const key = server.projects[0]?.key;
    const [byName, pageJson, firstPage, all, none, shown, shownJson] = await Promise.all([
      assets(["list", "--name", "Alice"]),
      assets(["list", "--limit", "1", "--json"]),
      assets(["list", "--limit", "1"]),
      assets(["list", "--limit", "100"], {
        DOPPEL_TOKEN: "",
        DOPPEL_ACCESS_KEY_ID: key?.access_key_id,
        DOPPEL_SECRET_ACCESS_KEY: key?.secret_access_key,
      }),
      assets(["list", "--state", "UNACTIVED,DELETING"]),
      assets(["show", "--asset", alice.assetId]),
      assets(["show", "--asset", alice.assetId, "--json"]),
    ]);
    const table = byName.trim().split("\n");
    expect(table[0]).toMatch(/^ASSET ID +STATE +CREATED +NAME +JOB$/);
    expect(table).toHaveLength(3);
    expect(table[1]).toMatch(new RegExp(`^${alice.assetId} +ACTIVED +\\S+Z +Alice studio +${alice.jobId}$`));
    expect(table[2]).toBe("assets 1-1 of 1");

    const page = JSON.parse(pageJson) as { count: number; assets: Array<{ asset_id: string }> };
    expect(page.count).toBeGreaterThanOrEqual(2);
    expect(page.assets.map((a) => a.asset_id)).toEqual([alice.assetId]);
    expect(firstPage).toMatch(/; next page: --offset 1\n$/);
    expect(all).toContain(bob.assetId);
    expect(all).not.toContain(other.assetId);
    expect(none).toBe("no assets\n");

    expect(shown).toMatch(/^name: +Alice studio$/m);
    expect(shown).toMatch(/^state: +ACTIVED$/m);
    expect(shown).toMatch(new RegExp(`^job: +${alice.jobId}$`, "m"));
    const idle = alice.files["idle.mp4"] as Buffer;
    expect(shown).toMatch(
      new RegExp(`^ {2}OTHER +${idle.length} B +${sha256(idle)} +package/idle\\.mp4$`, "m"),
    );
    expect(shown).toMatch(/^ {2}MAIN +\S+ \S+ +- +package\.tar$/m);
    expect(shown).toMatch(/^ {2}SAMPLE +.* preview\.mp4$/m);
    expect(shown).toContain(`next: doppel assets download --asset ${alice.assetId} --out <dir>`);
    const json = JSON.parse(shownJson) as {
      asset_id: string;
      files: Array<{ file_name: string; file_size: number; download_url: string }>;
    };
    expect(json.asset_id).toBe(alice.assetId);
    expect(json.files.find((f) => f.file_name === "manifest.json")?.download_url).toMatch(
      /\/downloads\/assets\/[0-9a-f]{32}\/package\/manifest\.json\?/,
    );
  }, 60_000);

  it("downloads every file of the package into --out, verified; a second run finds them all there", async () => {
    const published = await publish("Download");
    const out = join(dir, "download");
    const result = JSON.parse(
      await assets(["download", "--asset", published.assetId, "--out", out, "--json"]),
    ) as DownloadJson;
    expect(digests(await filesUnder(out))).toEqual(digests(published.files));
    expect(result.files.map((f) => [f.path, f.status]).sort()).toEqual([
      ["crops/000000.png", "downloaded"],
      ["idle.mp4", "downloaded"],
      ["manifest.json", "downloaded"],
    ]);
    for (const file of result.files) expect(file.sha256).toBe(sha256(published.files[file.path] as Buffer));

    const again = await assets(["download", "--asset", published.assetId, "--out", out]);
    expect(again).toMatch(/: 3 files, .* \(1 downloaded, 2 already there; .* received\)/);
    expect(again).toContain("every file's sha256 matches manifest.json");
    expect(digests(await filesUnder(out))).toEqual(digests(published.files));
  }, 60_000);

  it("resumes a cut download from its .part, and starts over a file whose kept bytes are wrong", async () => {
    const { assetId } = await publish("Resume");
    const files = await publishPackage(runtime, assetId, {
      "idle.mp4": randomBytes(3 * 1024 * 1024),
      "crops/000000.png": randomBytes(200_000),
      "crops/000001.png": randomBytes(100_000),
      "coords.json": randomBytes(5_000),
    });
    const out = join(dir, "resume");
    const idle = files["idle.mp4"] as Buffer;
    const crop = files["crops/000000.png"] as Buffer;
    const half = Math.floor(idle.length / 2);
    // What a run cut halfway leaves: idle.mp4 half-written; crops/000000.png with bytes of something
    // else; crops/000001.png complete; coords.json, manifest.json not yet there.
    mkdirSync(join(out, "crops"), { recursive: true });
    writeFileSync(join(out, "idle.mp4.part"), idle.subarray(0, half));
    writeFileSync(join(out, "crops", "000000.png.part"), randomBytes(50_000));
    writeFileSync(join(out, "crops", "000001.png"), files["crops/000001.png"] as Buffer);

    const result = JSON.parse(
      await assets(["download", "--asset", assetId, "--out", out, "--json", "--concurrency", "1"]),
    ) as DownloadJson;
    const status = Object.fromEntries(result.files.map((f) => [f.path, f.status]));
    expect(status).toEqual({
      "idle.mp4": "resumed",
      "crops/000000.png": "downloaded",
      "crops/000001.png": "skipped",
      "coords.json": "downloaded",
      "manifest.json": "downloaded",
    });
    // idle.mp4's first half came from the .part; crops/000000.png came whole after its kept bytes failed.
    const expectedReceived =
      idle.length -
      half +
      (crop.length - 50_000) +
      crop.length +
      (files["coords.json"] as Buffer).length +
      (files["manifest.json"] as Buffer).length;
    expect(result.received).toBe(expectedReceived);
    expect(digests(await filesUnder(out))).toEqual(digests(files));
  }, 60_000);

  it("starts a file over when the server answers a Range with the whole file or another range", async () => {
    const { assetId } = await publish("Range ignored");
    const files = await publishPackage(runtime, assetId, { "idle.mp4": randomBytes(400_000) });
    const idle = files["idle.mp4"] as Buffer;
    for (const mode of ["ignore-range", "wrong-range"] as const) {
      const proxy = await downloadProxy(server.baseUrl, mode);
      try {
        const out = join(dir, `proxy-${mode}`);
        mkdirSync(out);
        writeFileSync(join(out, "idle.mp4.part"), idle.subarray(0, 1000));
        const { stdout, stderr } = await runWithStderr(
          ["download", "--asset", assetId, "--out", out, "--json"],
          { ...env, DOPPEL_ENDPOINT: proxy.url },
        );
        const result = JSON.parse(stdout) as DownloadJson;
        expect(result.files.find((f) => f.path === "idle.mp4")?.status, mode).toBe("downloaded");
        expect(stderr).toContain("idle.mp4: the server did not send the rest of the file");
        expect(digests(await filesUnder(out))).toEqual(digests(files));
        expect(proxy.ranges.length, mode).toBeGreaterThan(0);
      } finally {
        await proxy.close();
      }
    }
  }, 60_000);

  it("resumes by itself when a connection is cut mid-file", async () => {
    const { assetId } = await publish("Cut");
    const files = await publishPackage(runtime, assetId, {
      "idle.mp4": randomBytes(600_000),
      "coords.json": randomBytes(20_000),
    });
    const proxy = await downloadProxy(server.baseUrl, "cut-once");
    try {
      const out = join(dir, "cut");
      const { stdout, stderr } = await runWithStderr(
        ["download", "--asset", assetId, "--out", out, "--json"],
        { ...env, DOPPEL_ENDPOINT: proxy.url },
      );
      const result = JSON.parse(stdout) as DownloadJson;
      expect(result.files.map((f) => [f.path, f.status]).sort()).toEqual([
        ["coords.json", "resumed"],
        ["idle.mp4", "resumed"],
        ["manifest.json", "downloaded"],
      ]);
      expect(stderr).toContain("idle.mp4: resuming after 300000 of 600000 bytes");
      expect(proxy.ranges.sort()).toEqual(["bytes=10000-", "bytes=300000-"]);
      expect(digests(await filesUnder(out))).toEqual(digests(files));
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("resumes a download whose process was killed halfway", async () => {
    const { assetId } = await publish("Killed");
    const files = await publishPackage(runtime, assetId, { "idle.mp4": randomBytes(2 * 1024 * 1024) });
    const proxy = await downloadProxy(server.baseUrl, "slow");
    const out = join(dir, "killed");
    const part = join(out, "idle.mp4.part");
    try {
      const child = spawn(
        process.execPath,
        [...CLI, "assets", "download", "--asset", assetId, "--out", out],
        { env: { ...process.env, ...env, DOPPEL_ENDPOINT: proxy.url }, stdio: "ignore" },
      );
      const exited = new Promise((resolve) => child.once("exit", resolve));
      // Killed (as by a crash or a closed terminal) once a few hundred KiB have arrived.
      const deadline = Date.now() + 30_000;
      while ((existsSync(part) ? statSync(part).size : 0) < 300_000 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      child.kill("SIGKILL");
      await exited;
    } finally {
      await proxy.close();
    }
    const kept = statSync(part).size;
    expect(kept).toBeGreaterThanOrEqual(300_000);
    expect(kept).toBeLessThan(2 * 1024 * 1024);
    expect(existsSync(join(out, "idle.mp4"))).toBe(false);

    const result = JSON.parse(
      await assets(["download", "--asset", assetId, "--out", out, "--json"]),
    ) as DownloadJson;
    expect(result.files.find((f) => f.path === "idle.mp4")?.status).toBe("resumed");
    expect(result.received).toBe(2 * 1024 * 1024 - kept + (files["manifest.json"] as Buffer).length);
    expect(digests(await filesUnder(out))).toEqual(digests(files));
  }, 90_000);

  it("exits 1 naming a file whose bytes in the store do not match the manifest, and deletes it", async () => {
    const published = await publish("Corrupt");
    const crop = published.files["crops/000000.png"] as Buffer;
    const damaged = Buffer.from(crop);
    damaged[0] = (damaged[0] ?? 0) ^ 0xff;
    await runtime.blobs.put(
      `${assetPrefix(published.assetId)}package/crops/000000.png`,
      Readable.from([damaged]),
    );
    const out = join(dir, "corrupt");
    const failed = await fails(["download", "--asset", published.assetId, "--out", out]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(
      `doppel: crops/000000.png does not match the manifest: its sha256 is ${sha256(damaged)}, the manifest's (and ShowAsset's) ${sha256(crop)}; the file was deleted`,
    );
    expect(existsSync(join(out, "crops", "000000.png"))).toBe(false);
    expect(existsSync(join(out, "crops", "000000.png.part"))).toBe(false);
    // Not a complete package: the manifest, written last, is not there either.
    expect(existsSync(join(out, "manifest.json"))).toBe(false);
  }, 60_000);

  it("refuses a package path that would leave --out", async () => {
    const { assetId } = await publish("Escape");
    await publishPackage(runtime, assetId, { "idle.mp4": Buffer.from("idle") });
    // A manifest naming a file outside the package, as a damaged or hostile store could hold.
    const manifest = Buffer.from(
      JSON.stringify({
        format: "doppel-avatar",
        version: 1,
        files: [{ path: "../escaped.txt", size: 4, sha256: sha256(Buffer.from("idle")) }],
      }),
    );
    await runtime.blobs.put(`${assetPrefix(assetId)}package/manifest.json`, Readable.from([manifest]));
    const out = join(dir, "escape", "out");
    const failed = await fails(["download", "--asset", assetId, "--out", out]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(
      `the package names a file "../escaped.txt" that would be written outside`,
    );
    expect(existsSync(join(dir, "escape", "escaped.txt"))).toBe(false);
  }, 60_000);

  it("refuses bad input with a clear message and exit code 1", async () => {
    const none = "0".repeat(32);
    const other = await publish("Not yours", 1);
    const mine = await publish("Mine");
    const bare = await publish("No package");
    await runtime.blobs.deletePrefix(assetPrefix(bare.assetId));
    const out = join(dir, "bad");
    const busy = join(dir, "busy");
    mkdirSync(busy);
    writeFileSync(join(busy, "keep.txt"), "mine");
    const cases: Array<[args: string[], expected: string]> = [
      [["show", "--asset", none], `No asset "${none}" in this project (MSS.10001001)`],
      [["show", "--asset", other.assetId], `No asset "${other.assetId}" in this project (MSS.10001001)`],
      [["download", "--asset", other.assetId, "--out", out], `No asset "${other.assetId}" in this project`],
      [["show", "--asset", "nope"], "expected an asset id: 32 lowercase hexadecimal characters"],
      [["list", "--state", "GONE"], "unknown state GONE; states are ACTIVED, UNACTIVED, DELETING"],
      [["list", "--limit", "0"], "--limit must be a whole number from 1 to 100"],
      [
        ["export", "--asset", mine.assetId, "--format", "musetalk", "--out", out],
        'unknown format "musetalk"; the one export format is livetalking',
      ],
      [
        ["export", "--asset", mine.assetId, "--format", "livetalking", "--out", out, "--face-size", "8"],
        "--face-size must be a whole number from 16 to 2048",
      ],
      [
        ["export", "--asset", mine.assetId, "--format", "livetalking", "--out", busy],
        `--out ${busy} is not empty (keep.txt); export into a new directory`,
      ],
      [
        ["download", "--asset", bare.assetId, "--out", out],
        `asset ${bare.assetId} has no package to download`,
      ],
      [["download", "--asset", mine.assetId], "required option '--out <dir>' not specified"],
    ];
    await Promise.all(
      cases.map(async ([args, expected]) => {
        const result = await fails(args);
        expect(result.code, args.join(" ")).toBe(1);
        expect(result.stderr, args.join(" ")).toContain(expected);
      }),
    );
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(busy)).toEqual(["keep.txt"]);
  }, 90_000);

  describe("export", () => {
    let packageFiles: Record<string, Buffer>;
    let assetId: string;

    beforeAll(async () => {
      // A real package: the reference trainer on the synthetic training input.
      const input = join(dir, "trainer-input");
      const output = join(dir, "trainer-output");
      await makeInput(input, { x: 60, y: 10, size: 210 });
      await referenceTrainer.train(runOf(input, output));
      packageFiles = await filesUnder(output);
      ({ assetId } = await publish("Exported"));
      const prefix = `${assetPrefix(assetId)}package/`;
      await runtime.blobs.deletePrefix(prefix);
      for (const [path, bytes] of Object.entries(packageFiles)) {
        await runtime.blobs.put(`${prefix}${path}`, Readable.from([bytes]));
      }
    }, 120_000);

    it("writes LiveTalking's full_imgs, face_imgs and coords.pkl, leaving no temporary package", async () => {
      const manifest = JSON.parse((packageFiles["manifest.json"] as Buffer).toString()) as AvatarManifest;
      const out = join(dir, "livetalking", "avatar");
      const printed = await assets([
        ...["export", "--asset", assetId, "--format", "livetalking", "--out", out, "--face-size", "96"],
      ]);
      expect(printed).toContain(`exported asset ${assetId} as a LiveTalking wav2lip avatar into ${out}:`);
      const frames = manifest.frameCount;
      const names = Array.from({ length: frames }, (_, i) => `${String(i).padStart(8, "0")}.png`);
      expect(readdirSync(join(out, "full_imgs")).sort()).toEqual(names);
      expect(readdirSync(join(out, "face_imgs")).sort()).toEqual(names);
      expect(readdirSync(out).sort()).toEqual(["coords.pkl", "face_imgs", "full_imgs"]);
      expect(printed).toContain(`face_imgs/  ${frames} faces, 96x96`);
      expect(printed).toContain(
        `full_imgs/  ${frames} frames, ${manifest.source.width}x${manifest.source.height}`,
      );
      // LiveTalking loads coords.pkl with pickle: one (y1, y2, x1, x2) tuple of ints a frame.
      const loaded = spawnSync("python3", [
        "-c",
        "import json, pickle, sys; c = pickle.load(open(sys.argv[1], 'rb')); print(json.dumps([list(t) for t in c]))",
        join(out, "coords.pkl"),
      ]);
      expect(loaded.status, loaded.stderr.toString()).toBe(0);
      const coords = JSON.parse(loaded.stdout.toString()) as number[][];
      expect(coords).toHaveLength(frames);
      for (const [y1, y2, x1, x2] of coords) {
        expect(0 <= (y1 ?? -1) && (y1 ?? 0) < (y2 ?? 0) && (y2 ?? 0) <= manifest.source.height).toBe(true);
        expect(0 <= (x1 ?? -1) && (x1 ?? 0) < (x2 ?? 0) && (x2 ?? 0) <= manifest.source.width).toBe(true);
      }
      // The package went to a temporary directory under TMPDIR, removed afterwards.
      expect(readdirSync(join(dir, "tmp")).filter((name) => name.startsWith("doppel-export-"))).toEqual([]);
    }, 120_000);

    it("removes its temporary package and writes nothing when interrupted", async () => {
      const tmp = join(dir, "tmp-interrupted");
      mkdirSync(tmp);
      const out = join(dir, "interrupted", "avatar");
      const proxy = await downloadProxy(server.baseUrl, "slow");
      try {
        const child = spawn(
          process.execPath,
          [...[...CLI, "assets", "export", "--asset", assetId], ...["--format", "livetalking", "--out", out]],
          { env: { ...process.env, ...env, DOPPEL_ENDPOINT: proxy.url, TMPDIR: tmp }, stdio: "pipe" },
        );
        let stderr = "";
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
        // Interrupted (Ctrl-C) once the download into the temporary directory is under way.
        const deadline = Date.now() + 30_000;
        const downloading = () =>
          readdirSync(tmp).some((name) => existsSync(join(tmp, name, "package", "crops")));
        while (!downloading() && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        child.kill("SIGINT");
        expect(await exited).toBe(1);
        expect(stderr).toContain("doppel: interrupted (SIGINT); nothing was kept");
      } finally {
        await proxy.close();
      }
      expect(readdirSync(tmp).filter((name) => name.startsWith("doppel-export-"))).toEqual([]);
      expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
    }, 60_000);
  });
});

/** Runs the CLI, resolving with stdout and stderr (the progress bar and notes go to stderr). */
function runWithStderr(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...CLI, "assets", ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve({ stdout, stderr }),
    );
  });
}

/** How the proxy of `downloadProxy` passes on file downloads. */
type ProxyMode = "ignore-range" | "wrong-range" | "cut-once" | "slow";

/**
 * A proxy in front of the server; the asset's download URLs are rewritten to go through it. Downloads:
 * - `ignore-range` answers a Range with 200 and the whole file;
 * - `wrong-range` answers a Range with 206 and the whole file labelled as bytes from 0;
 * - `cut-once` passes the Range on, but ends the connection halfway through the first answer of each file;
 * - `slow` passes the Range on and sends 64 KiB every 50 ms.
 * `ranges` records the Range headers it saw.
 */
async function downloadProxy(
  target: string,
  mode: ProxyMode,
): Promise<{ url: string; ranges: string[]; close(): Promise<void> }> {
  const ranges: string[] = [];
  const cut = new Set<string>();
  let self = "";
  const proxy: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    void (async () => {
      const headers: Record<string, string> = {};
      const forwarded = ["x-auth-token", "x-project-id", "content-type"];
      if (mode === "cut-once" || mode === "slow") forwarded.push("range");
      for (const name of forwarded) {
        const value = request.headers[name];
        if (typeof value === "string") headers[name] = value;
      }
      const upstream = await fetch(`${target}${request.url}`, { headers });
      const body = Buffer.from(await upstream.arrayBuffer());
      if (request.url?.startsWith("/v1/")) {
        response.writeHead(upstream.status, { "content-type": "application/json" });
        response.end(body.toString().split(target).join(self));
        return;
      }
      const range = request.headers.range;
      if (range !== undefined) ranges.push(range);
      const passed: Record<string, string> = { "content-length": String(body.length) };
      const contentRange = upstream.headers.get("content-range");
      if (contentRange !== null) passed["content-range"] = contentRange;
      if (mode === "ignore-range" || mode === "wrong-range") {
        if (range !== undefined && mode === "wrong-range" && upstream.status === 200) {
          passed["content-range"] = `bytes 0-${body.length - 1}/${body.length}`;
          response.writeHead(206, passed);
        } else {
          response.writeHead(upstream.status, passed);
        }
        response.end(body);
        return;
      }
      response.writeHead(upstream.status, passed);
      const path = request.url?.split("?")[0] ?? "";
      if (mode === "cut-once" && body.length > 1 && !cut.has(path)) {
        cut.add(path);
        // The first half, then (once the client has had time to write it) the connection ends, short
        // of Content-Length. Cut at once, the client would drop what it had not yet written to disk.
        response.write(body.subarray(0, Math.floor(body.length / 2)));
        setTimeout(() => response.socket?.end(), 300);
        return;
      }
      for (let at = 0; at < body.length; at += 64 * 1024) {
        if (mode === "slow") await new Promise((resolve) => setTimeout(resolve, 50));
        if (response.destroyed) return;
        response.write(body.subarray(at, at + 64 * 1024));
      }
      response.end();
    })().catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(502);
      response.end(String(error));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  self = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  return {
    url: self,
    ranges,
    close: () =>
      new Promise((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}
