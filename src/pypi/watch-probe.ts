// The PyPI half of `watch:` (the loop is src/sync/watcher.ts): the watched pages are the
// configured projects (or those the mirror has published) in every concrete index; a poll is a
// conditional GET (ETag / If-Modified-Since) of the project page, whose serial
// (`X-PyPI-Last-Serial`, `<!--SERIAL-->`) or download.pytorch.org `<!--TIMESTAMP-->` tells the
// loop whether it moved forward or came from a lagging CDN node.
import type { StateRepositories } from "../store/state-repositories.js";
import type { PageState, ProbeResult, WatchProbe, WatchTarget } from "../sync/watch-probe.js";
import type { UpstreamClient } from "../upstream/http-client.js";
import type { PypiMirrorConfig } from "./config-schema.js";
import { isIndexPattern } from "./index-pattern.js";
import { normalizeProjectName } from "./project-page.js";
import { parseSimpleIndex, SIMPLE_INDEX_ACCEPT } from "./simple-index-content-type.js";

export interface PypiWatchDeps {
  readonly config: PypiMirrorConfig;
  readonly client: UpstreamClient;
  readonly state: Pick<StateRepositories, "snapshots">;
}

export function pypiWatchProbe({ config, client, state }: PypiWatchDeps): WatchProbe {
  return {
    async targets(): Promise<WatchTarget[]> {
      const targets: WatchTarget[] = [];
      // Patterns (proxy mirrors) name no page to watch.
      for (const idx of config.indexes.filter((i) => !isIndexPattern(i))) {
        let projects = config.projects?.map(normalizeProjectName);
        if (!projects) {
          const snapshotId = await state.snapshots.currentSnapshotId(config.name, idx);
          projects =
            snapshotId === undefined ? [] : (await state.snapshots.projects(snapshotId)).map((p) => p.name);
        }
        for (const project of projects) targets.push({ idx, project });
      }
      return targets;
    },

    async seed({ idx, project }): Promise<PageState> {
      const snapshotId = await state.snapshots.currentSnapshotId(config.name, idx);
      const record =
        snapshotId === undefined ? undefined : await state.snapshots.project(snapshotId, project);
      return {
        etag: record?.upstreamEtag ?? undefined,
        lastModified: undefined,
        serial: record?.upstreamSerial ?? undefined,
        timestamp: record?.upstreamTimestamp ?? undefined,
      };
    },

    async poll({ idx, project }, known): Promise<ProbeResult> {
      const url = `${config.upstream}/${idx}/${project}/`;
      const response = await client.fetchPage(
        url,
        SIMPLE_INDEX_ACCEPT,
        { etag: known.etag, lastModified: known.lastModified },
        { retries: 0 },
      );
      const bytes = Buffer.byteLength(response.body);
      if (response.status === 304) return { notModified: true, bytes };
      const next: PageState = {
        etag: response.etag,
        lastModified: response.lastModified,
        serial: undefined,
        timestamp: undefined,
      };
      if (response.status === 200) {
        const headerSerial = Number(response.headers["x-pypi-last-serial"]);
        const page = parseSimpleIndex(response.body, response.contentType, response.url, project);
        next.serial = Number.isFinite(headerSerial) ? headerSerial : page.meta.lastSerial;
        next.timestamp = page.meta.timestamp;
      }
      return { notModified: false, bytes, state: next };
    },
  };
}
