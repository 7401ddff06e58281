// Reads a (optionally gzip-compressed) tar stream entry by entry without holding it in memory:
// ustar headers, pax extended headers (`path`, `size`) and GNU long names, as image layers use.
// https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_06
// https://www.gnu.org/software/tar/manual/html_node/Standard.html
import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";

export interface TarEntry {
  path: string;
  /** `0` regular file, `2` symlink, `5` directory, ... */
  type: string;
  size: number;
  mode: number;
}

const BLOCK = 512;

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString("utf8");
}

function octal(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  // GNU base-256 for big numbers: the high bit of the first byte set.
  if ((field[0] ?? 0) & 0x80) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const digits = text(block, start, length).trim();
  return digits === "" ? 0 : Number.parseInt(digits, 8);
}

function paxRecords(data: Buffer): Record<string, string> {
  const records: Record<string, string> = {};
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number.parseInt(data.subarray(offset, space).toString("ascii"), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = data.subarray(space + 1, offset + length - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) records[record.slice(0, eq)] = record.slice(eq + 1);
    offset += length;
  }
  return records;
}

/**
 * Calls `onEntry` for every entry of the archive at `file`, then `onData` with the entry's bytes in
 * chunks as they stream (only for regular files, and only when `wantData(entry)` says so).
 */
export async function readTar(
  file: string,
  options: {
    gzip: boolean;
    onEntry: (entry: TarEntry) => void;
    wantData?: (entry: TarEntry) => boolean;
    onData?: (entry: TarEntry, chunk: Buffer) => void;
  },
): Promise<void> {
  const source = createReadStream(file);
  const stream = options.gzip ? source.pipe(createGunzip()) : source;
  let pending: Buffer = Buffer.alloc(0);
  let state: "header" | "data" | "meta" = "header";
  let remaining = 0;
  let padding = 0;
  let entry: TarEntry | undefined;
  let meta: Buffer[] = [];
  let metaType = "";
  let overrides: Record<string, string> = {};
  let longName: string | undefined;
  let wanted = false;
  let ended = false;

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (ended) continue;
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (state === "header") {
        if (pending.length < BLOCK) break;
        const block = pending.subarray(0, BLOCK);
        pending = pending.subarray(BLOCK);
        if (block.every((b) => b === 0)) {
          ended = true;
          break;
        }
        const type = text(block, 156, 1) || "0";
        const size = octal(block, 124, 12);
        const prefix = text(block, 345, 155);
        const name = text(block, 0, 100);
        padding = (BLOCK - (size % BLOCK)) % BLOCK;
        remaining = size;
        if (type === "x" || type === "g" || type === "L") {
          state = "meta";
          meta = [];
          metaType = type;
          continue;
        }
        const path = overrides.path ?? longName ?? (prefix ? `${prefix}/${name}` : name);
        entry = {
          path,
          type,
          size: overrides.size === undefined ? size : Number(overrides.size),
          mode: octal(block, 100, 8),
        };
        remaining = entry.size;
        padding = (BLOCK - (remaining % BLOCK)) % BLOCK;
        overrides = {};
        longName = undefined;
        options.onEntry(entry);
        wanted = (type === "0" || type === "7") && (options.wantData?.(entry) ?? false);
        state = "data";
        continue;
      }
      // data or meta: the entry's bytes, then padding to the block.
      if (remaining > 0) {
        if (pending.length === 0) break;
        const take = Math.min(remaining, pending.length);
        const piece = pending.subarray(0, take);
        if (state === "meta") meta.push(Buffer.from(piece));
        else if (wanted && entry) options.onData?.(entry, piece);
        pending = pending.subarray(take);
        remaining -= take;
        if (remaining > 0) break;
      }
      if (pending.length < padding) break;
      pending = pending.subarray(padding);
      padding = 0;
      if (state === "meta") {
        const data = Buffer.concat(meta);
        if (metaType === "x") overrides = { ...overrides, ...paxRecords(data) };
        else if (metaType === "L") longName = data.toString("utf8").replace(/\0+$/, "");
      }
      state = "header";
    }
    // Keep the pending buffer small: copy out the unread tail of a big chunk.
    if (pending.length > 0 && pending.buffer.byteLength > 4 * pending.length + 65_536) {
      pending = Buffer.from(pending);
    }
  }
  if (!ended && (state !== "header" || pending.length !== 0)) {
    throw new Error(`${file}: the tar archive ends in the middle of an entry`);
  }
}
