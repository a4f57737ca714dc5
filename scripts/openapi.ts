// Writes the OpenAPI documents `doppel serve` serves to docs/openapi/<name>.json:
//   npm run openapi
// test/e2e/openapi.test.ts fails while the committed copies differ from what the server generates.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../src/config/config.js";
import { buildApp } from "../src/http/app.js";
import { DOCUMENT_NAMES } from "../src/http/openapi/documents.js";
import { openRuntime } from "../src/services/runtime.js";

/** Where the committed documents live, relative to the repository. */
export const OPENAPI_DIR = path.join(import.meta.dirname, "..", "docs", "openapi");

/** A document as it is committed: the served JSON, indented, with a final newline. */
export function committedText(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

async function main(): Promise<void> {
  // The documents depend on the routes only; an empty SQLite runtime is enough to build the app.
  const dataDir = mkdtempSync(path.join(tmpdir(), "doppel-openapi-"));
  const runtime = await openRuntime(loadConfig({ dataDir }, {}));
  try {
    const app = await buildApp(runtime);
    mkdirSync(OPENAPI_DIR, { recursive: true });
    for (const name of DOCUMENT_NAMES) {
      const res = await app.inject({ method: "GET", url: `/openapi/${name}.json` });
      if (res.statusCode !== 200) throw new Error(`/openapi/${name}.json answered ${res.statusCode}`);
      const file = path.join(OPENAPI_DIR, `${name}.json`);
      writeFileSync(file, committedText(res.json()));
      console.log(path.relative(process.cwd(), file));
    }
    await app.close();
  } finally {
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === import.meta.filename) await main();
