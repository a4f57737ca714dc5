// Makes the test clips (see test/support/clips.ts) and prints their paths:
//   tsx scripts/make-test-clips.ts [dir]     (default: the cache directory the tests use)
import { defaultClipsDir, ensureClips } from "../test/support/clips.js";

const dir = process.argv[2] ?? defaultClipsDir();
const started = performance.now();
const clips = await ensureClips(dir);
for (const [name, file] of Object.entries(clips)) console.log(`${name.padEnd(16)} ${file}`);
console.log(`(${Math.round(performance.now() - started)} ms)`);
