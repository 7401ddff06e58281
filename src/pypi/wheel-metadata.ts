// Core metadata (the `.dist-info/METADATA` file) from a stored wheel, for serving PEP 658
// `.metadata` files when upstream offers none. Only the end records, the central directory and
// the one entry are read, with ranged reads (a ByteRangeSource: a blob in the store, or a
// download being verified): a 2 GiB torch wheel costs a few small reads.
// https://peps.python.org/pep-0658/
// https://packaging.python.org/en/latest/specifications/binary-distribution-format/
// https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT (4.3.6 layout, 4.3.14-16 ZIP64, 4.5.3)
import { crc32, inflateRawSync } from "node:zlib";
import { WheelInvalidError, WheelMetadataError } from "../errors.js";
import type { ByteRangeSource } from "../store/blob-store.js";
import { normalizeProjectName } from "./project-page.js";

export interface ExtractWheelMetadataOptions {
  /**
   * The wheel's filename (the bytes may be a content-addressed blob). When given, the
   * `.dist-info` directory must belong to the same project and version.
   */
  filename?: string;
  /** How errors name the wheel; default the filename. */
  label?: string;
  /** Largest METADATA accepted, uncompressed. Default 10 MiB. */
  maxBytes?: number;
}

const END_RECORD = 0x06054b50;
const ZIP64_END_LOCATOR = 0x07064b50;
const ZIP64_END_RECORD = 0x06064b50;
const CENTRAL_HEADER = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;
const END_RECORD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_END_RECORD_SIZE = 56;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;
const MAX_COMMENT = 0xffff;
/** Torch's central directory is about 2 MB; anything past this is not a wheel worth reading. */
const MAX_CENTRAL_DIRECTORY = 256 * 1024 * 1024;
const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
const METADATA_SUFFIX = Buffer.from(".dist-info/METADATA");
const SLASH = 0x2f;

interface CentralEntry {
  name: string;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

class WheelReader {
  constructor(
    private readonly source: ByteRangeSource,
    private readonly label: string,
    private readonly error: (label: string, what: string) => Error = (label, what) =>
      new WheelMetadataError(label, what),
  ) {}

  fail(what: string): never {
    throw this.error(this.label, what);
  }

  async read(position: number, length: number): Promise<Buffer> {
    const buffer = await this.source.readRange(position, position + length);
    if (buffer.length < length) this.fail(`unexpected end of file at offset ${position + buffer.length}`);
    return buffer;
  }

  u64(buffer: Buffer, offset: number): number {
    const value = buffer.readBigUInt64LE(offset);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`64-bit zip field too large: ${value}`);
    return Number(value);
  }
}

/** Finds the central directory: its offset, size and entry count, from the (ZIP64) end records. */
async function locateCentralDirectory(
  reader: WheelReader,
  fileSize: number,
): Promise<{ offset: number; size: number; entries: number }> {
  if (fileSize < END_RECORD_SIZE) reader.fail(`too small to be a zip file (${fileSize} bytes)`);
  const tailLength = Math.min(fileSize, END_RECORD_SIZE + MAX_COMMENT + ZIP64_LOCATOR_SIZE);
  const tailStart = fileSize - tailLength;
  const tail = await reader.read(tailStart, tailLength);
  // The end record is the last signature whose comment runs exactly to the end of the file.
  let at = -1;
  for (let i = tail.length - END_RECORD_SIZE; i >= 0; i--) {
    if (
      tail.readUInt32LE(i) === END_RECORD &&
      i + END_RECORD_SIZE + tail.readUInt16LE(i + 20) === tail.length
    ) {
      at = i;
      break;
    }
  }
  if (at < 0) reader.fail("no end of central directory record (not a zip file, or truncated)");
  const diskNumber = tail.readUInt16LE(at + 4);
  const cdDisk = tail.readUInt16LE(at + 6);
  let entries = tail.readUInt16LE(at + 10);
  let size = tail.readUInt32LE(at + 12);
  let offset = tail.readUInt32LE(at + 16);
  let recordStart = tailStart + at;

  const locatorAt = at - ZIP64_LOCATOR_SIZE;
  if (locatorAt >= 0 && tail.readUInt32LE(locatorAt) === ZIP64_END_LOCATOR) {
    const zip64Offset = reader.u64(tail, locatorAt + 8);
    if (tail.readUInt32LE(locatorAt + 16) > 1) reader.fail("multi-disk zip files are not supported");
    if (zip64Offset + ZIP64_END_RECORD_SIZE > tailStart + locatorAt)
      reader.fail("ZIP64 end record offset out of range");
    const record = await reader.read(zip64Offset, ZIP64_END_RECORD_SIZE);
    if (record.readUInt32LE(0) !== ZIP64_END_RECORD)
      reader.fail(`no ZIP64 end record at offset ${zip64Offset}`);
    if (record.readUInt32LE(16) !== 0 || record.readUInt32LE(20) !== 0) {
      reader.fail("multi-disk zip files are not supported");
    }
    entries = reader.u64(record, 32);
    size = reader.u64(record, 40);
    offset = reader.u64(record, 48);
    recordStart = zip64Offset;
  } else if (entries === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    reader.fail("end record says ZIP64 but there is no ZIP64 end locator");
  } else if (diskNumber !== 0 || cdDisk !== 0) {
    reader.fail("multi-disk zip files are not supported");
  }
  if (offset + size > recordStart) {
    reader.fail(
      `central directory (offset ${offset}, ${size} bytes) overlaps the end records at ${recordStart}`,
    );
  }
  if (size > MAX_CENTRAL_DIRECTORY) reader.fail(`central directory of ${size} bytes is over the limit`);
  return { offset, size, entries };
}

/** Reads ZIP64 values from an entry's extra field, for the 32-bit fields that hold 0xFFFFFFFF. */
function applyZip64Extra(entry: CentralEntry, extra: Buffer, reader: WheelReader): void {
  const needSize = entry.size === 0xffffffff;
  const needCompressed = entry.compressedSize === 0xffffffff;
  const needOffset = entry.localOffset === 0xffffffff;
  if (!needSize && !needCompressed && !needOffset) return;
  for (let at = 0; at + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (at + 4 + length > extra.length) break;
    if (id === 0x0001) {
      let field = at + 4;
      const next = (): number => {
        if (field + 8 > at + 4 + length) reader.fail(`short ZIP64 extra field for ${entry.name}`);
        const value = reader.u64(extra, field);
        field += 8;
        return value;
      };
      // The order is fixed; only the fields that overflowed are present.
      if (needSize) entry.size = next();
      if (needCompressed) entry.compressedSize = next();
      if (needOffset) entry.localOffset = next();
      return;
    }
    at += 4 + length;
  }
  reader.fail(`entry ${entry.name} needs a ZIP64 extra field and has none`);
}

function parseCentralDirectory(cd: Buffer, expected: number, reader: WheelReader): CentralEntry[] {
  const found: CentralEntry[] = [];
  let count = 0;
  let at = 0;
  while (at + CENTRAL_HEADER_SIZE <= cd.length) {
    if (cd.readUInt32LE(at) !== CENTRAL_HEADER) reader.fail(`bad central directory header at entry ${count}`);
    const nameLength = cd.readUInt16LE(at + 28);
    const extraLength = cd.readUInt16LE(at + 30);
    const commentLength = cd.readUInt16LE(at + 32);
    const end = at + CENTRAL_HEADER_SIZE + nameLength + extraLength + commentLength;
    if (end > cd.length) reader.fail(`central directory entry ${count} runs past the directory`);
    const nameStart = at + CENTRAL_HEADER_SIZE;
    // Torch has 12,000 entries: test the name's bytes before decoding any of them. A match is
    // `<dir>.dist-info/METADATA` with no other slash, i.e. at the top level.
    const suffixStart = nameStart + nameLength - METADATA_SUFFIX.length;
    if (
      nameLength > METADATA_SUFFIX.length &&
      cd.compare(METADATA_SUFFIX, 0, METADATA_SUFFIX.length, suffixStart, nameStart + nameLength) === 0 &&
      cd.indexOf(SLASH, nameStart) === suffixStart + ".dist-info".length
    ) {
      const flags = cd.readUInt16LE(at + 8);
      // Bit 11: UTF-8 name. Otherwise CP437, which agrees with latin1 on the ASCII names wheels use.
      const name = cd.toString(flags & (1 << 11) ? "utf8" : "latin1", nameStart, nameStart + nameLength);
      const entry: CentralEntry = {
        name,
        flags,
        method: cd.readUInt16LE(at + 10),
        crc: cd.readUInt32LE(at + 16),
        compressedSize: cd.readUInt32LE(at + 20),
        size: cd.readUInt32LE(at + 24),
        localOffset: cd.readUInt32LE(at + 42),
      };
      const extraStart = at + CENTRAL_HEADER_SIZE + nameLength;
      applyZip64Extra(entry, cd.subarray(extraStart, extraStart + extraLength), reader);
      found.push(entry);
    }
    count += 1;
    at = end;
  }
  if (count !== expected)
    reader.fail(`central directory has ${count} entries, the end record says ${expected}`);
  return found;
}

/**
 * Throws WheelInvalidError unless the file is a complete zip: its end records are there and agree
 * with a central directory that lists as many well-formed entries as they say, and the file
 * starts with a local header. A wheel cut short (a short Content-Length, listed without a hash
 * so no digest catches it) fails here before it is stored.
 */
export async function checkWheelZip(source: ByteRangeSource, filename: string, url?: string): Promise<void> {
  const reader = new WheelReader(source, filename, (label, what) => new WheelInvalidError(label, what, url));
  const cd = await locateCentralDirectory(reader, source.size);
  if (cd.entries === 0) reader.fail("the zip has no entries");
  parseCentralDirectory(await reader.read(cd.offset, cd.size), cd.entries, reader);
  if ((await reader.read(0, 4)).readUInt32LE(0) !== LOCAL_HEADER) reader.fail("no local header at offset 0");
}

/** The blob fetcher's content check for PyPI files: a `.whl` must be a whole zip (see above). */
export async function verifyWheelDownload(
  request: { filename: string; url: string },
  bytes: ByteRangeSource,
): Promise<void> {
  if (request.filename.endsWith(".whl")) await checkWheelZip(bytes, request.filename, request.url);
}

/** `torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl` -> `torch-2.5.1+cu121`. */
function filenamePrefix(filename: string): string | undefined {
  const parts = filename.replace(/\.whl$/, "").split("-");
  if (!filename.endsWith(".whl") || parts.length < 5 || parts.length > 6) return undefined;
  return `${parts[0]}-${parts[1]}`;
}

/**
 * Returns the wheel's `<name>-<version>.dist-info/METADATA` bytes, exactly as stored (the PEP 658
 * `.metadata` file). Throws WheelMetadataError naming the file and the problem when the zip is
 * malformed, has no or several METADATA files at top level, belongs to another project or
 * version than `filename` says, is encrypted or uses an unsupported compression method, fails its
 * CRC-32, or is larger than `maxBytes`.
 */
export async function extractWheelMetadata(
  source: ByteRangeSource,
  options: ExtractWheelMetadataOptions = {},
): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const label = options.label ?? options.filename ?? "wheel";
  const reader: WheelReader = new WheelReader(source, label);
  const cd = await locateCentralDirectory(reader, source.size);
  const candidates = parseCentralDirectory(await reader.read(cd.offset, cd.size), cd.entries, reader);
  if (candidates.length === 0) reader.fail("no <name>.dist-info/METADATA at the top level");
  if (candidates.length > 1) {
    reader.fail(`several METADATA files: ${candidates.map((entry) => entry.name).join(", ")}`);
  }
  const entry = candidates[0] as CentralEntry;
  const distInfo = entry.name.slice(0, -"/METADATA".length);
  if (options.filename !== undefined) {
    const prefix = filenamePrefix(options.filename);
    if (prefix === undefined) reader.fail("the filename is not a wheel filename");
    // Compare as PEP 503 names do, so `Flask_Bcrypt-1.0.1.dist-info` matches `flask_bcrypt-1.0.1-…`.
    const stem = distInfo.slice(0, -".dist-info".length);
    if (normalizeProjectName(stem) !== normalizeProjectName(prefix)) {
      reader.fail(`${distInfo} does not match the filename's project and version ${prefix}`);
    }
  }
  if (entry.flags & 1) reader.fail(`${entry.name} is encrypted`);
  if (entry.method !== 0 && entry.method !== 8) {
    reader.fail(
      `${entry.name} uses compression method ${entry.method} (only stored and deflate are supported)`,
    );
  }
  if (entry.size > maxBytes)
    reader.fail(`${entry.name} is ${entry.size} bytes, over the limit of ${maxBytes}`);
  if (entry.method === 0 && entry.compressedSize !== entry.size) {
    reader.fail(`${entry.name} is stored but its sizes differ (${entry.compressedSize} != ${entry.size})`);
  }
  // Deflate never grows data by more than a little; a huge compressed size is a lie.
  if (entry.compressedSize > maxBytes + 1024 * 1024)
    reader.fail(`${entry.name} compressed size is over the limit`);

  const local = await reader.read(entry.localOffset, LOCAL_HEADER_SIZE);
  if (local.readUInt32LE(0) !== LOCAL_HEADER)
    reader.fail(`no local header for ${entry.name} at offset ${entry.localOffset}`);
  const nameLength = local.readUInt16LE(26);
  const extraLength = local.readUInt16LE(28);
  const localName = await reader.read(entry.localOffset + LOCAL_HEADER_SIZE, nameLength);
  if (localName.toString(entry.flags & (1 << 11) ? "utf8" : "latin1") !== entry.name) {
    reader.fail(`local header name for ${entry.name} differs from the central directory`);
  }
  const dataStart = entry.localOffset + LOCAL_HEADER_SIZE + nameLength + extraLength;
  if (dataStart + entry.compressedSize > cd.offset)
    reader.fail(`${entry.name} data runs into the central directory`);
  const raw = await reader.read(dataStart, entry.compressedSize);
  let data: Buffer;
  if (entry.method === 0) {
    data = raw;
  } else {
    try {
      data = inflateRawSync(raw, { maxOutputLength: Math.max(1, maxBytes) });
    } catch (error) {
      reader.fail(`${entry.name} does not inflate: ${(error as Error).message}`);
    }
  }
  if (data.length !== entry.size)
    reader.fail(`${entry.name} is ${data.length} bytes, the zip says ${entry.size}`);
  if (crc32(data) !== entry.crc) reader.fail(`${entry.name} fails its CRC-32 check`);
  return data;
}
