import { readdir } from "node:fs/promises";
import { join } from "node:path";

/** An entry below a directory: its `/`-separated path relative to it, and whether it is a plain file. */
export interface WalkedEntry {
  readonly path: string;
  readonly isFile: boolean;
}

/**
 * Every file and other non-directory entry below `dir` (symbolic links are reported, not followed).
 * Walks by hand rather than `readdir({ recursive: true })`, whose Dirent paths need Node 20.12.
 */
export async function walkFiles(dir: string): Promise<WalkedEntry[]> {
  const found: WalkedEntry[] = [];
  const visit = async (relative: string): Promise<void> => {
    for (const entry of await readdir(join(dir, relative), { withFileTypes: true })) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) await visit(path);
      else found.push({ path, isFile: entry.isFile() });
    }
  };
  await visit("");
  return found;
}
