import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";

describe("connection limits in the config", () => {
  it("defaults to 60 s idle, 30 s for the head and 1024 connections, and refuses nonsense", () => {
    const config = loadConfig({ dataDir: "/tmp/doppel-config-test" }, {});
    expect([config.idleTimeoutMs, config.headersTimeoutMs, config.maxConnections]).toEqual([
      60_000, 30_000, 1024,
    ]);
    const set = loadConfig(
      { dataDir: "/tmp/doppel-config-test" },
      { DOPPEL_IDLE_TIMEOUT_SECONDS: "5", DOPPEL_HEADERS_TIMEOUT_SECONDS: "2", DOPPEL_MAX_CONNECTIONS: "10" },
    );
    expect([set.idleTimeoutMs, set.headersTimeoutMs, set.maxConnections]).toEqual([5000, 2000, 10]);
    expect(() => loadConfig({}, { DOPPEL_IDLE_TIMEOUT_SECONDS: "0" })).toThrow(/DOPPEL_IDLE_TIMEOUT_SECONDS/);
    expect(() => loadConfig({}, { DOPPEL_MAX_CONNECTIONS: "many" })).toThrow(/DOPPEL_MAX_CONNECTIONS/);
  });
});
