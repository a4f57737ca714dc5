/** Cutting a rectangle out of a packed RGB24 frame and scaling it, as OpenCV's `cv2.resize` does by default. */

/** A rectangle in whole pixels: columns [x1, x2) and rows [y1, y2). */
export interface PixelBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/**
 * The `box` of a `frameWidth`-wide RGB24 frame scaled to `width`×`height`, RGB24, by bilinear
 * interpolation with pixel centres aligned (`cv2.INTER_LINEAR`, the interpolation LiveTalking's
 * `genavatar.py` resizes its face crops with): destination pixel d samples the source at
 * (d + 0.5) · scale − 0.5, clamped to the box's edge pixels, so nothing outside the box leaks in.
 */
export function cropAndResize(
  frame: Uint8Array,
  frameWidth: number,
  box: PixelBox,
  width: number,
  height: number,
): Buffer {
  const boxWidth = box.x2 - box.x1;
  const boxHeight = box.y2 - box.y1;
  if (!(boxWidth > 0 && boxHeight > 0)) throw new RangeError("cannot resize an empty box");
  const columns = samplePositions(width, boxWidth);
  const rows = samplePositions(height, boxHeight);
  const out = Buffer.alloc(width * height * 3);
  const stride = frameWidth * 3;
  for (let dy = 0; dy < height; dy++) {
    const { index: sy, next: sy1, weight: wy } = rows[dy] as SamplePosition;
    const row0 = (box.y1 + sy) * stride;
    const row1 = (box.y1 + sy1) * stride;
    for (let dx = 0; dx < width; dx++) {
      const { index: sx, next: sx1, weight: wx } = columns[dx] as SamplePosition;
      const c0 = (box.x1 + sx) * 3;
      const c1 = (box.x1 + sx1) * 3;
      const o = (dy * width + dx) * 3;
      for (let channel = 0; channel < 3; channel++) {
        const top =
          (frame[row0 + c0 + channel] as number) * (1 - wx) + (frame[row0 + c1 + channel] as number) * wx;
        const bottom =
          (frame[row1 + c0 + channel] as number) * (1 - wx) + (frame[row1 + c1 + channel] as number) * wx;
        out[o + channel] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return out;
}

interface SamplePosition {
  /** Source pixel (within the box) and its neighbour towards higher coordinates. */
  index: number;
  next: number;
  /** Weight of `next`; `index` gets 1 − weight. */
  weight: number;
}

/** Where each of `size` destination pixels samples a `sourceSize`-pixel span. */
function samplePositions(size: number, sourceSize: number): SamplePosition[] {
  const scale = sourceSize / size;
  return Array.from({ length: size }, (_, d) => {
    const at = (d + 0.5) * scale - 0.5;
    let index = Math.floor(at);
    let weight = at - index;
    if (index < 0) {
      index = 0;
      weight = 0;
    }
    if (index >= sourceSize - 1) {
      index = sourceSize - 1;
      weight = 0;
    }
    return { index, next: Math.min(index + 1, sourceSize - 1), weight };
  });
}
