/**
 * Deepest nesting of arrays and objects a JSON body may have: .NET's System.Text.Json default, far
 * beyond any body either API defines (`voice_properties` is two levels), and far below the depth at
 * which recursive code (validation, serialisation, storage) runs out of stack.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPENERS = new Set([0x5b, 0x7b]);
const CLOSERS = new Set([0x5d, 0x7d]);

/**
 * Whether JSON text nests arrays and objects deeper than `max`. One pass over the bytes, no recursion
 * and no parsing, so it is safe on any input; brackets inside strings do not count. (UTF-8 never puts
 * an ASCII byte inside a multi-byte character, so scanning bytes is exact.)
 */
export function nestsDeeperThan(json: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const byte = json[i] as number;
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (OPENERS.has(byte)) {
      depth++;
      if (depth > max) return true;
    } else if (CLOSERS.has(byte)) {
      depth--;
    }
  }
  return false;
}
