// The OCI half of `watch:` (the generic loop is src/sync/watch-probe.ts and watcher.ts): one HEAD
// per pre-synced tag (Docker Hub does not count HEADs against its pull limit), comparing the
// digest upstream names now with the one the mirror serves; and, for repositories whose `images:`
// entry has /regex/ patterns, a look at the tag list for matching tags the mirror lacks. A moved
// tag is a change of subject `repository:tag`, a new matching tag one of `repository`: the
// watcher then asks for a sync of just that, which publishes it and fires `image.updated`.
import type { SnapshotRepository } from "../store/state-repositories.js";
import type { PageState, ProbeResult, WatchProbe, WatchTarget } from "../sync/watch-probe.js";
import { OciError } from "./registry-errors.js";
import { splitSubject } from "./subject-matcher.js";
import { selectTags, type TagPattern } from "./tag-pattern.js";

export interface OciWatchDeps {
  readonly mirror: {
    readonly name: string;
    readonly images: Readonly<Record<string, readonly TagPattern[]>>;
  };
  readonly client: {
    headManifest(name: string, ref: string): Promise<{ digest: string | undefined }>;
    listAllTags(name: string): Promise<string[]>;
  };
  readonly snapshots: Pick<SnapshotRepository, "currentSnapshotId" | "projects" | "project">;
}

const NO_STATE: PageState = {
  etag: undefined,
  lastModified: undefined,
  serial: undefined,
  timestamp: undefined,
};

function isGone(error: unknown): boolean {
  return (
    error instanceof OciError && (error.ociCode === "MANIFEST_UNKNOWN" || error.ociCode === "NAME_UNKNOWN")
  );
}

export function ociWatchProbe(deps: OciWatchDeps): WatchProbe {
  const { mirror, snapshots } = deps;
  const syncedTags = async (repository: string): Promise<Map<string, string>> => {
    const id = await snapshots.currentSnapshotId(mirror.name, repository);
    const out = new Map<string, string>();
    if (id === undefined) return out;
    for (const p of await snapshots.projects(id)) if (p.upstreamEtag) out.set(p.name, p.upstreamEtag);
    return out;
  };
  return {
    async targets(): Promise<WatchTarget[]> {
      const targets: WatchTarget[] = [];
      for (const [repository, patterns] of Object.entries(mirror.images)) {
        const tags = new Set((await syncedTags(repository)).keys());
        for (const p of patterns) if (p.kind === "exact") tags.add(p.tag);
        for (const tag of [...tags].sort())
          targets.push({ idx: repository, project: `${repository}:${tag}` });
        if (patterns.some((p) => p.kind === "regex")) targets.push({ idx: repository, project: repository });
      }
      return targets;
    },
    async seed(target: WatchTarget): Promise<PageState> {
      const { repository, tag } = splitSubject(target.project);
      if (tag === undefined) return NO_STATE;
      return { ...NO_STATE, etag: (await syncedTags(repository)).get(tag) };
    },
    async poll(target: WatchTarget, known: PageState): Promise<ProbeResult> {
      const { repository, tag } = splitSubject(target.project);
      if (tag === undefined) {
        // The tag list: a change only when a matching tag is not in the mirror yet.
        const patterns = (mirror.images[repository] ?? []).filter((p) => p.kind === "regex");
        let listed: string[];
        try {
          listed = await deps.client.listAllTags(repository);
        } catch (error) {
          if (isGone(error)) return { notModified: true, bytes: 0 };
          throw error;
        }
        const have = await syncedTags(repository);
        const missing = selectTags(patterns, listed).filter((t) => !have.has(t));
        if (missing.length === 0) return { notModified: true, bytes: 0 };
        const etag = missing.join(",");
        if (etag === known.etag) return { notModified: true, bytes: 0 };
        return { notModified: false, bytes: 0, state: { ...NO_STATE, etag } };
      }
      let digest: string | undefined;
      try {
        digest = (await deps.client.headManifest(repository, tag)).digest;
      } catch (error) {
        // A tag deleted upstream is kept here as it was: nothing to fetch.
        if (isGone(error)) return { notModified: true, bytes: 0 };
        throw error;
      }
      if (digest === undefined || digest === known.etag) return { notModified: true, bytes: 0 };
      return { notModified: false, bytes: 0, state: { ...NO_STATE, etag: digest } };
    },
  };
}
