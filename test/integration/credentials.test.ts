import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretBox } from "../../src/auth/secret-box.js";
import { hashToken } from "../../src/auth/token-hash.js";
import { createAccessKey, createProject, createToken } from "../../src/services/admin.service.js";
import { claimNonceBatched } from "../../src/services/nonce-batcher.js";
import {
  claimNonces,
  findEnabledAccessKey,
  findToken,
  sweepNonces,
} from "../../src/store/credential.repository.js";
import { ENGINES, openTestRuntime, type TestRuntime } from "../support/databases.js";

describe.each(ENGINES)("credentials on %s", (engine) => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await openTestRuntime(engine);
  });
  afterAll(async () => t?.dispose());

  it("accepts a nonce once while it is live, and again after it expired", async () => {
    const db = t.runtime.database.db;
    const one = (key: string, nonce: string, expire: number) => ({
      accessKeyId: key,
      nonce,
      expireTime: expire,
    });
    expect(await claimNonces(db, [one("AK1", "n-1", 2_000), one("AK2", "n-1", 2_000)], 1_000)).toEqual(
      new Set([0, 1]),
    );
    expect(await claimNonces(db, [one("AK1", "n-1", 2_500), one("AK1", "n-2", 2_500)], 1_500)).toEqual(
      new Set([1]),
    );
    // Past its window the nonce row is stale: a fresh use is allowed (the timestamp check guards replay).
    expect(await claimNonces(db, [one("AK1", "n-1", 4_000)], 3_000)).toEqual(new Set([0]));
    expect(await claimNonces(db, [one("AK1", "n-1", 4_500)], 3_500)).toEqual(new Set());
    expect(await sweepNonces(db, 10_000)).toBe(3);
  });

  it("batches concurrent claims and accepts exactly one use of each nonce", async () => {
    const now = () => 1_000;
    const claims = Array.from({ length: 40 }, (_, i) =>
      claimNonceBatched(t.runtime.database, now, "AK3", `race-${i % 10}`, 9_000),
    );
    const results = await Promise.all(claims);
    expect(results.filter(Boolean)).toHaveLength(10);
    for (let n = 0; n < 10; n++) expect(results.filter((ok, i) => ok && i % 10 === n)).toHaveLength(1);
    expect(await claimNonceBatched(t.runtime.database, now, "AK3", "race-0", 9_000)).toBe(false);
    expect(await claimNonceBatched(t.runtime.database, now, "AK3", "fresh", 9_000)).toBe(true);
  });

  it("fails only the claim the database refuses, never the others batched with it", async () => {
    const now = () => 1_000;
    const good = Array.from({ length: 12 }, (_, i) =>
      claimNonceBatched(t.runtime.database, now, "AK4", `fine-${i}`, 9_000),
    );
    // A row no engine stores (NaN in a NOT NULL bigint), made in the same turn so it joins the batch.
    const bad = claimNonceBatched(t.runtime.database, now, "AK4", "bad", Number.NaN);
    const settled = await Promise.allSettled([...good, bad]);
    expect(settled.slice(0, 12)).toEqual(Array(12).fill({ status: "fulfilled", value: true }));
    expect(settled[12]?.status).toBe("rejected");
    // The refused claim recorded nothing; the good ones are claimed for good.
    expect(await claimNonceBatched(t.runtime.database, now, "AK4", "bad", 9_000)).toBe(true);
    expect(await claimNonceBatched(t.runtime.database, now, "AK4", "fine-3", 9_000)).toBe(false);
  });

  it("stores secrets only encrypted and tokens only hashed", async () => {
    const project = await createProject(t.runtime, "creds");
    const key = await createAccessKey(t.runtime, project.id);
    const stored = await findEnabledAccessKey(t.runtime.database.db, key.access_key_id);
    expect(stored?.secretCiphertext).not.toContain(key.secret_access_key);
    expect(t.runtime.secrets.open(stored?.secretCiphertext as string)).toBe(key.secret_access_key);
    expect(() => new SecretBox(Buffer.alloc(32, 7)).open(stored?.secretCiphertext as string)).toThrow();

    const token = await createToken(t.runtime, project.id);
    const rows = await t.runtime.database.db.selectFrom("tokens").selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(token.token);
    const now = t.clock.now;
    expect(await findToken(t.runtime.database.db, hashToken(token.token), now)).toMatchObject({
      projectId: project.id,
    });
    expect(
      await findToken(t.runtime.database.db, hashToken(token.token), now + t.config.tokenTtlMs),
    ).toBeUndefined();
  });
});
