// `GET /mirrorz.json`: this site in MirrorZ data format v1.7
// (https://github.com/mirrorz-org/mirrorz#data-format-v17), so mirrorz.org, mirrorz-302 and
// oh-my-mirrorz can list it. `mirrors[].status` is one main status with optional Unix-second
// timestamps and auxiliary parts: S<last ok> / Y<started>O<last ok> / F<attempt>O<last ok> /
// D (pending) / P<paused at> / C (reverse proxy with cache) / U (unknown), then X<next sync>.
import type { Config } from "../config/schema.js";
import type { MirrorStatus } from "../sync/mirror-status.js";
import { approximateSize } from "./tunasync-jobs.js";

export interface MirrorzSite {
  url: string;
  abbr: string;
  name: string;
  email?: string;
  note?: string;
}

export interface MirrorzMirror {
  cname: string;
  desc: string;
  url: string;
  status: string;
  help: string;
  upstream: string;
  size: string;
}

export interface MirrorzDocument {
  version: 1.7;
  site: MirrorzSite;
  info: never[];
  mirrors: MirrorzMirror[];
}

const secs = (ms: number) => Math.floor(ms / 1000);

export function mirrorzStatus(m: MirrorStatus): string {
  if (m.mode === "proxy") return "C";
  const ok = m.lastSuccessAt === null ? "" : `O${secs(m.lastSuccessAt)}`;
  const next = m.nextRunAt === null ? "" : `X${secs(m.nextRunAt)}`;
  switch (m.state) {
    case "success":
      return `S${m.lastSuccessAt === null ? "" : secs(m.lastSuccessAt)}${next}`;
    case "syncing":
      return `Y${m.lastAttemptAt === null ? "" : secs(m.lastAttemptAt)}${ok}`;
    case "failed": {
      const attempt = m.lastEndedAt ?? m.lastAttemptAt;
      return `F${attempt === null ? "" : secs(attempt)}${ok}${next}`;
    }
    case "pre-syncing":
      return `D${next}`;
    case "paused":
      return `P${m.pausedAt === null ? "" : secs(m.pausedAt)}`;
    default:
      return `U${next}`;
  }
}

export function mirrorzDocument(
  config: Config,
  publicUrl: string,
  statuses: readonly MirrorStatus[],
): MirrorzDocument {
  const site: MirrorzSite = {
    url: publicUrl.replace(/\/+$/, ""),
    abbr: config.site.abbr,
    name: config.site.name,
  };
  if (config.site.email !== undefined) site.email = config.site.email;
  if (config.site.note !== undefined) site.note = config.site.note;
  return {
    version: 1.7,
    site,
    info: [],
    // A disabled mirror serves nothing: listing it would send users to a dead end.
    mirrors: statuses
      .filter((m) => m.state !== "disabled")
      .map((m) => ({
        cname: m.name,
        desc: m.description ?? "",
        url: `/${encodeURIComponent(m.name)}`,
        status: mirrorzStatus(m),
        help: `/help/${encodeURIComponent(m.name)}`,
        upstream: m.upstream,
        size: approximateSize(m.totalSize, m.fileCount),
      })),
  };
}
