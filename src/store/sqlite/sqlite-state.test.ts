// The SQLite state backend against the shared state repositories contract.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runStateRepositoriesContract } from "../state-repositories.contract.js";
import { StateStore } from "../state-store.js";

runStateRepositoriesContract("SQLite (StateStore)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-sqlite-state-"));
  const state = new StateStore(join(dir, "state.sqlite"));
  return {
    repos: state,
    cleanup: async () => {
      state.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
