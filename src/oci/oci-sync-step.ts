// The sync step of an OCI mirror: the pre-sync of `images:` (filled in by the pre-sync work).
// A mirror without `images:` is a pull-through cache only, and a sync of it publishes nothing.
import { SyncRefusedError, UsageError } from "../errors.js";
import type { SyncStep } from "../sync/sync-step.js";
import { redactUrl } from "../upstream/redact-url.js";
import type { OciMirrorConfig } from "./config-schema.js";
import { validateName } from "./reference.js";

export function ociSyncStep(config: OciMirrorConfig): SyncStep {
  return {
    normalizeProject(project) {
      const bad = validateName(project);
      if (bad) throw new UsageError(`${config.name}: ${bad.message}`);
      return project;
    },
    describe: () => `registry ${config.registry} at ${redactUrl(config.upstream)}`,
    async run(ctx) {
      if (Object.keys(config.images).length === 0) {
        ctx.log(`${config.name}: no images: listed; pulled on demand only, nothing to pre-sync`);
        ctx.upstreamChecked();
        return;
      }
      throw new SyncRefusedError(config.name, "the pre-sync of images: is not available in this build yet");
    },
  };
}
