import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretBox } from "../../src/auth/secret-box.js";
import { createAccessKey, createProject, createToken, hashToken } from "../../src/services/admin.service.js";
import {
  claimNonce,
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
    expect(await claimNonce(db, "AK1", "n-1", 2_000, 1_000)).toBe(true);
    expect(await claimNonce(db, "AK1", "n-1", 2_500, 1_500)).toBe(false);
    // Another key may use the same nonce.
    expect(await claimNonce(db, "AK2", "n-1", 2_000, 1_000)).toBe(true);
    // Past its window the nonce row is stale: a fresh use is allowed (the timestamp check guards replay).
    expect(await claimNonce(db, "AK1", "n-1", 4_000, 3_000)).toBe(true);
    expect(await claimNonce(db, "AK1", "n-1", 4_500, 3_500)).toBe(false);
    const racing = await Promise.all(
      Array.from({ length: 8 }, () => claimNonce(db, "AK3", "race", 9_000, 1_000)),
    );
    expect(racing.filter(Boolean)).toHaveLength(1);
    expect(await sweepNonces(db, 10_000)).toBeGreaterThanOrEqual(3);
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
