/**
 * A Python pickle writer for exactly what the exports need: a list of tuples of integers, in protocol 2
 * (readable by every Python since 2.3). No npm package writes pickles without running Python itself
 * (`pickleparser`, `jpickle` and `unpickle` only read; `node-pickle` spawns `python`), and Python must
 * not be needed at run time.
 *
 * The opcodes and their arguments are those of CPython's `Lib/pickle.py` (the constants) and
 * `Lib/pickletools.py` (the `opcodes` table that documents each one):
 *
 *   PROTO       0x80 `\x80` + 1 byte: the protocol number (2)
 *   EMPTY_LIST  0x5d `]`    push []
 *   EMPTY_TUPLE 0x29 `)`    push ()
 *   MARK        0x28 `(`    push the mark
 *   BININT1     0x4b `K`    + 1 byte, unsigned: 0..255
 *   BININT2     0x4d `M`    + 2 bytes, unsigned little-endian: 256..65535
 *   BININT      0x4a `J`    + 4 bytes, signed little-endian: -2^31..2^31-1
 *   LONG1       0x8a        + 1 byte n + n bytes: two's complement little-endian (n = 0 is 0), protocol 2
 *   TUPLE1..3   0x85..0x87  the top 1..3 items become a tuple (protocol 2)
 *   TUPLE       0x74 `t`    the items above the mark become a tuple
 *   APPEND      0x61 `a`    append the top item to the list below it
 *   APPENDS     0x65 `e`    extend the list below the mark with the items above it
 *   STOP        0x2e `.`    the top item is the result
 *
 * The choices follow CPython's C pickler (`Modules/_pickle.c`: `save_long`, `save_tuple`,
 * `batch_list_exact`), so the bytes equal `pickletools.optimize(pickle.dumps(value, 2))`, which is
 * `pickle.dumps` less the memo PUTs that nothing GETs; the tests check exactly that.
 */

const PROTO = 0x80;
const EMPTY_LIST = 0x5d;
const EMPTY_TUPLE = 0x29;
const MARK = 0x28;
const BININT1 = 0x4b;
const BININT2 = 0x4d;
const BININT = 0x4a;
const LONG1 = 0x8a;
const TUPLE_OF_SIZE = [EMPTY_TUPLE, 0x85, 0x86, 0x87] as const;
const TUPLE = 0x74;
const APPEND = 0x61;
const APPENDS = 0x65;
const STOP = 0x2e;

/** Items per APPENDS, as `_pickle.c` batches them (BATCHSIZE). */
const BATCH_SIZE = 1000;

/** An integer as pickled: a safe-integer number or a bigint. */
export type PickleInt = number | bigint;

/** `value` (a list of tuples of integers) as a protocol-2 pickle: `pickle.load` returns `list[tuple[int, ...]]`. */
export function pickleIntTuples(value: ReadonlyArray<ReadonlyArray<PickleInt>>): Buffer {
  const out: number[] = [PROTO, 2, EMPTY_LIST];
  if (value.length === 1) {
    writeTuple(out, value[0] as ReadonlyArray<PickleInt>);
    out.push(APPEND);
  } else {
    for (let start = 0; start < value.length; start += BATCH_SIZE) {
      out.push(MARK);
      for (const tuple of value.slice(start, start + BATCH_SIZE)) writeTuple(out, tuple);
      out.push(APPENDS);
    }
  }
  out.push(STOP);
  return Buffer.from(out);
}

function writeTuple(out: number[], tuple: ReadonlyArray<PickleInt>): void {
  const small = TUPLE_OF_SIZE[tuple.length];
  if (tuple.length > 3 || small === undefined) out.push(MARK);
  for (const item of tuple) writeInt(out, item);
  out.push(small ?? TUPLE);
}

function writeInt(out: number[], item: PickleInt): void {
  const value = toBigInt(item);
  if (value >= 0n && value <= 0xffn) {
    out.push(BININT1, Number(value));
  } else if (value >= 0n && value <= 0xffffn) {
    const n = Number(value);
    out.push(BININT2, n & 0xff, n >>> 8);
  } else if (value >= -0x80000000n && value <= 0x7fffffffn) {
    const n = Number(value);
    out.push(BININT, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  } else {
    const bytes = encodeLong(value);
    // LONG4 would take longer ones; 255 bytes is already beyond ±2^2039.
    if (bytes.length > 255) throw new RangeError(`${value} is too large to pickle here (over 255 bytes)`);
    out.push(LONG1, bytes.length, ...bytes);
  }
}

function toBigInt(item: PickleInt): bigint {
  if (typeof item === "bigint") return item;
  if (!Number.isSafeInteger(item)) {
    throw new TypeError(`only integers can be pickled here (as Python ints), got ${item}`);
  }
  return BigInt(item);
}

/**
 * Two's complement little-endian in the fewest bytes, as `pickle.encode_long`: 0 is no bytes, 255 is
 * `ff 00`, -128 is `80`, -256 is `00 ff`.
 */
export function encodeLong(value: bigint): number[] {
  if (value === 0n) return [];
  const magnitude = value < 0n ? -value : value;
  // (bit_length >> 3) + 1 bytes always hold the value with its sign bit; a negative one may need one less.
  const size = (magnitude.toString(2).length >> 3) + 1;
  let rest = BigInt.asUintN(size * 8, value);
  const bytes: number[] = [];
  for (let i = 0; i < size; i++) {
    bytes.push(Number(rest & 0xffn));
    rest >>= 8n;
  }
  const last = bytes[size - 1] as number;
  const beforeLast = bytes[size - 2] ?? 0;
  if (value < 0n && size > 1 && last === 0xff && (beforeLast & 0x80) !== 0) bytes.pop();
  return bytes;
}
