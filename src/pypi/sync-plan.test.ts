// The pure planner: which wanted files are new (fetch), unchanged (kept) or gone (removed), and how
// the file filters (keep_latest by release, yanked, pre-releases) feed it from one sync to the next.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import type { FileRecord } from "../store/state-store.js";
import { type FileFilters, selectFiles } from "./file-filter.js";
import type { DistributionFile, ProjectPage } from "./project-page.js";
import { planIndexSync, type SyncPlan, type WantedFile } from "./sync-plan.js";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

function wanted(filename: string, extra: Partial<WantedFile> = {}): WantedFile {
  return {
    idx: "simple",
    path: `simple/demo/${filename}`,
    project: "demo",
    filename,
    upstreamUrl: `https://files.example/${filename}`,
    sha256: sha(filename),
    size: 100,
    requiresPython: null,
    yanked: null,
    uploadTime: null,
    upstreamMetadata: undefined,
    ...extra,
  };
}

/** The record a sync would have published for `file` (its bytes hashed as the index said). */
function published(file: WantedFile, extra: Partial<FileRecord> = {}): FileRecord {
  return {
    path: file.path,
    project: file.project,
    filename: file.filename,
    upstreamUrl: file.upstreamUrl,
    sha256: file.sha256 ?? sha(`computed:${file.filename}`),
    size: file.size ?? 100,
    hashSource: file.sha256 === undefined ? "computed" : "index",
    requiresPython: file.requiresPython,
    yanked: file.yanked,
    uploadTime: file.uploadTime,
    metadataSha256: null,
    metadataSize: null,
    metadataSource: null,
    ...extra,
  };
}

const everyBlob = () => true;

function names(plan: SyncPlan): { kept: string[]; fetch: string[]; removed: string[] } {
  return {
    kept: plan.kept.map((k) => k.wanted.filename),
    fetch: plan.fetch.map((f) => f.filename),
    removed: plan.removed.map((r) => r.filename),
  };
}

describe("planIndexSync", () => {
  test("a first sync fetches every wanted file and removes nothing", () => {
    const files = [wanted("demo-1.0-py3-none-any.whl"), wanted("demo-2.0-py3-none-any.whl")];
    assert.deepEqual(names(planIndexSync(files, [], everyBlob)), {
      kept: [],
      fetch: ["demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl"],
      removed: [],
    });
  });

  test("an unchanged file is kept with its previous record; a new one is fetched; a dropped one removed", () => {
    const one = wanted("demo-1.0-py3-none-any.whl");
    const two = wanted("demo-2.0-py3-none-any.whl");
    const three = wanted("demo-3.0-py3-none-any.whl");
    const previous = [published(one, { metadataSha256: sha("meta") }), published(two)];
    const plan = planIndexSync([two, three], previous, everyBlob);
    assert.deepEqual(names(plan), {
      kept: ["demo-2.0-py3-none-any.whl"],
      fetch: ["demo-3.0-py3-none-any.whl"],
      removed: ["demo-1.0-py3-none-any.whl"],
    });
    assert.equal(plan.kept[0]?.previous, previous[1], "the previous record itself is reused");
    assert.equal(plan.kept[0]?.wanted, two);
    assert.equal(plan.removed[0], previous[0]);
  });

  test("same path with a different digest (re-uploaded upstream) is fetched again, not removed", () => {
    const file = wanted("demo-1.0-py3-none-any.whl");
    const previous = [published(file, { sha256: sha("the old bytes") })];
    assert.deepEqual(names(planIndexSync([file], previous, everyBlob)), {
      kept: [],
      fetch: ["demo-1.0-py3-none-any.whl"],
      removed: [],
    });
  });

  test("a published file whose blob is gone from the store is fetched again", () => {
    const kept = wanted("demo-1.0-py3-none-any.whl");
    const lost = wanted("demo-2.0-py3-none-any.whl");
    const previous = [published(kept), published(lost)];
    const asked: string[] = [];
    const plan = planIndexSync([kept, lost], previous, (digest) => {
      asked.push(digest);
      return digest !== lost.sha256;
    });
    assert.deepEqual(names(plan), {
      kept: ["demo-1.0-py3-none-any.whl"],
      fetch: ["demo-2.0-py3-none-any.whl"],
      removed: [],
    });
    assert.deepEqual(asked.sort(), [kept.sha256, lost.sha256].sort());
  });

  test("a file without an upstream hash is kept while it comes from the same URL", () => {
    const same = wanted("demo-1.0-py3-none-any.whl", { sha256: undefined });
    const moved = wanted("demo-2.0-py3-none-any.whl", { sha256: undefined });
    const previous = [
      published(same),
      published({ ...moved, upstreamUrl: "https://old.example/demo-2.0.whl" }),
    ];
    assert.deepEqual(names(planIndexSync([same, moved], previous, everyBlob)), {
      kept: ["demo-1.0-py3-none-any.whl"],
      fetch: ["demo-2.0-py3-none-any.whl"],
      removed: [],
    });
  });

  test("an unhashed file from the same URL whose blob is gone is fetched again", () => {
    const file = wanted("demo-1.0-py3-none-any.whl", { sha256: undefined });
    const plan = planIndexSync([file], [published(file)], () => false);
    assert.deepEqual(names(plan).fetch, ["demo-1.0-py3-none-any.whl"]);
  });

  test("files are matched by path: the same name in another index is another file", () => {
    const here = wanted("demo-1.0-py3-none-any.whl");
    const there = { ...here, idx: "other", path: `other/demo/${here.filename}` };
    assert.deepEqual(names(planIndexSync([there], [published(here)], everyBlob)), {
      kept: [],
      fetch: ["demo-1.0-py3-none-any.whl"],
      removed: ["demo-1.0-py3-none-any.whl"],
    });
  });

  test("an empty wanted list removes the whole previous snapshot", () => {
    const previous = [
      published(wanted("a-1.0-py3-none-any.whl")),
      published(wanted("b-1.0-py3-none-any.whl")),
    ];
    const plan = planIndexSync([], previous, everyBlob);
    assert.deepEqual(plan.removed, previous);
    assert.deepEqual(plan.kept, []);
    assert.deepEqual(plan.fetch, []);
  });
});

// The planner as a sync uses it: a project page, the mirror's filters, then the diff against the
// previous snapshot. Versions leave the mirror only through the filters.
describe("planning across syncs, with the file filters", () => {
  const FILTERS: FileFilters = { prereleases: false, sdists: false, yanked: false };

  function dist(filename: string, extra: Partial<DistributionFile> = {}): DistributionFile {
    return {
      filename,
      url: `https://files.example/${filename}`,
      hashes: { sha256: sha(filename) },
      yanked: false,
      coreMetadata: false,
      ...extra,
    };
  }

  function plan(files: DistributionFile[], filters: Partial<FileFilters>, previous: FileRecord[]): SyncPlan {
    const page: ProjectPage = { name: "torch", files, meta: {} };
    const { selected } = selectFiles(page, { ...FILTERS, ...filters });
    const want = selected.map((f) =>
      wanted(f.filename, {
        project: "torch",
        path: `simple/torch/${f.filename}`,
        upstreamUrl: f.url,
        sha256: f.hashes.sha256,
        yanked: f.yanked === false ? null : f.yanked,
      }),
    );
    return planIndexSync(want, previous, everyBlob);
  }

  /** The snapshot a sync of `p` publishes: what it kept and what it fetched. */
  function publish(p: SyncPlan): FileRecord[] {
    return [...p.kept.map((k) => k.previous), ...p.fetch.map((f) => published(f))];
  }

  const wheel = (version: string) => dist(`torch-${version}-cp312-cp312-manylinux_2_28_x86_64.whl`);

  test("keep_latest counts releases: a new release fetches its builds and removes the oldest release's", () => {
    const before = [wheel("2.5.0"), wheel("2.5.0+cpu"), wheel("2.6.0"), wheel("2.6.0+cu124")];
    const first = plan(before, { keepLatest: 2 }, []);
    assert.equal(first.fetch.length, 4, "two releases, every local build of each");
    const snapshot = publish(first);

    const after = [...before, wheel("2.7.0"), wheel("2.7.0+cu126")];
    const second = plan(after, { keepLatest: 2 }, snapshot);
    assert.deepEqual(names(second), {
      kept: [wheel("2.6.0").filename, wheel("2.6.0+cu124").filename],
      fetch: [wheel("2.7.0").filename, wheel("2.7.0+cu126").filename],
      removed: [wheel("2.5.0").filename, wheel("2.5.0+cpu").filename],
    });
  });

  test("raising keep_latest brings an older release back; lowering it removes releases", () => {
    const page = [wheel("2.4.0"), wheel("2.5.0"), wheel("2.6.0")];
    const snapshot = publish(plan(page, { keepLatest: 1 }, []));
    assert.deepEqual(
      snapshot.map((f) => f.filename),
      [wheel("2.6.0").filename],
    );
    const wider = plan(page, { keepLatest: 3 }, snapshot);
    assert.deepEqual(names(wider), {
      kept: [wheel("2.6.0").filename],
      fetch: [wheel("2.4.0").filename, wheel("2.5.0").filename],
      removed: [],
    });
    const narrower = plan(page, { keepLatest: 2 }, publish(wider));
    assert.deepEqual(names(narrower).removed, [wheel("2.4.0").filename]);
  });

  test("a file yanked upstream leaves the mirror unless yanked files are kept (then it stays, marked)", () => {
    const page = [wheel("2.5.0"), wheel("2.6.0")];
    const snapshot = publish(plan(page, {}, []));
    const yankedPage = [wheel("2.5.0"), { ...wheel("2.6.0"), yanked: "broken build" }];

    const dropped = plan(yankedPage, {}, snapshot);
    assert.deepEqual(names(dropped), {
      kept: [wheel("2.5.0").filename],
      fetch: [],
      removed: [wheel("2.6.0").filename],
    });

    const keptYanked = plan(yankedPage, { yanked: true }, snapshot);
    assert.deepEqual(names(keptYanked).removed, []);
    const entry = keptYanked.kept.find((k) => k.wanted.filename === wheel("2.6.0").filename);
    assert.equal(entry?.wanted.yanked, "broken build", "the wanted file carries the new yank reason");
  });

  test("a yanked release does not count towards keep_latest", () => {
    const page = [wheel("2.4.0"), wheel("2.5.0"), { ...wheel("2.6.0"), yanked: "" }];
    assert.deepEqual(names(plan(page, { keepLatest: 1 }, [])).fetch, [wheel("2.5.0").filename]);
  });

  test("pre-releases are neither fetched nor counted as releases unless asked for", () => {
    const page = [wheel("2.5.0"), wheel("2.6.0"), wheel("2.7.0rc1"), wheel("2.7.0.dev20250101")];
    assert.deepEqual(names(plan(page, { keepLatest: 1 }, [])).fetch, [wheel("2.6.0").filename]);
    const snapshot = publish(plan(page, { keepLatest: 1 }, []));
    const withPre = plan(page, { keepLatest: 1, prereleases: true }, snapshot);
    assert.deepEqual(names(withPre), {
      kept: [],
      fetch: [wheel("2.7.0rc1").filename],
      removed: [wheel("2.6.0").filename],
    });
  });
});
