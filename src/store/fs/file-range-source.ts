// A ByteRangeSource over a file given by path: for tools and tests that read a wheel lying
// outside the store (a downloaded file, a fixture).
import { open } from "node:fs/promises";
import type { ByteRangeSource } from "../blob-store.js";

/** Opens `path`, hands `use` a range source over it, and closes the file whatever happens. */
export async function withFileRangeSource<T>(
  path: string,
  use: (source: ByteRangeSource) => Promise<T>,
): Promise<T> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    return await use({
      size,
      async readRange(start, end) {
        const length = Math.max(0, Math.min(end, size) - start);
        const buffer = Buffer.allocUnsafe(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(buffer, done, length - done, start + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return done === length ? buffer : buffer.subarray(0, done);
      },
    });
  } finally {
    await handle.close();
  }
}
