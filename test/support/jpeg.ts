/**
 * What a JPEG says of itself: its size, read from the first start-of-frame marker. Throws unless the
 * bytes begin with a JPEG's start-of-image marker, reach a frame header and end with end-of-image.
 */
export function jpegSize(bytes: Uint8Array): { width: number; height: number } {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (data[0] !== 0xff || data[1] !== 0xd8 || data[2] !== 0xff) throw new Error("not a JPEG: no SOI marker");
  if (data[data.length - 2] !== 0xff || data[data.length - 1] !== 0xd9) {
    throw new Error("not a whole JPEG: no EOI marker at the end");
  }
  let offset = 2;
  while (offset + 9 < data.length) {
    if (data[offset] !== 0xff) throw new Error(`not a JPEG: no marker at byte ${offset}`);
    const marker = data[offset + 1] as number;
    // SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC), carry the frame's size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: data.readUInt16BE(offset + 5), width: data.readUInt16BE(offset + 7) };
    }
    offset += 2 + data.readUInt16BE(offset + 2);
  }
  throw new Error("not a JPEG: no frame header");
}
