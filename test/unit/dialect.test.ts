import { describe, expect, it } from "vitest";
import { dialectOf } from "../../src/http/dialects/dialect.js";

describe("dialectOf", () => {
  it("gives Doppel's own paths MetaStudio's envelope and everything else Alibaba's", () => {
    for (const path of ["/v1", "/v1/p/x", "/uploads", "/uploads/", "/uploads/media/x?y", "/downloads/a/b"]) {
      expect([path, dialectOf(path)]).toEqual([path, "metastudio"]);
    }
    for (const path of [
      "/admin",
      "/admin/v1/reviews",
      "/worker/v1/claim",
      "/v1?Action=x",
      "/openapi/x",
      "/docs",
    ]) {
      expect([path, dialectOf(path)]).toEqual([path, "metastudio"]);
    }
    for (const path of [
      "/",
      "/?Action=x",
      "/healthz",
      "/v10/x",
      "/uploadsx",
      "/V1/x",
      "/x/v1/",
      "",
      "/docsx",
    ]) {
      expect([path, dialectOf(path)]).toEqual([path, "ice"]);
    }
  });
});
