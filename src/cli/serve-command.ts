import { hostname } from "node:os";
import { formatDuration } from "../config/duration.js";
import type { MirrorConfig } from "../config/schema.js";
import { startServer } from "../http/server.js";
import { describeSchedule } from "../sync/cron-schedule.js";
import { ScheduledGc } from "../sync/scheduled-gc.js";
import { createScheduler } from "../sync/scheduled-sync.js";
import { Watcher } from "../sync/watcher.js";
import { redactUrl } from "../upstream/redact-url.js";
import { type CommandIo, EXIT_OK, parseCommandArgs } from "./command-io.js";
import { openApp } from "./open-app.js";

export const serveHelp = `freshmirror serve [--config FILE] [--listen HOST:PORT]

Serves every configured mirror: PyPI-style simple indexes and files, the status page, the JSON
API, /jobs, /mirrorz.json and /metrics; and syncs mirror-mode mirrors on their schedules.
Set FRESHMIRROR_ADMIN_TOKEN to enable the admin API (sync now, pause, resume).`;

export async function serveCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandArgs(argv, { listen: { type: "string" } }, false);
  if (values.help) {
    io.stdout.write(`${serveHelp}\n`);
    return EXIT_OK;
  }
  const app = await openApp(values.config, io, { writes: true });
  const listen = values.listen ?? `${app.config.listen.host}:${app.config.listen.port}`;
  const at = listen.lastIndexOf(":");
  // The scheduler and watcher log through app.logger (JSON lines on stderr).
  const scheduler = createScheduler(app);
  // An upstream change the watcher sees becomes a targeted sync, queued behind a running one.
  const watcher = new Watcher(app, app.lag, {
    requestSync: (mirror, project) => scheduler.requestSync(mirror, project),
  });
  // Old blobs no snapshot lists any more go on gc_schedule (safe beside syncs).
  const gcSchedule = app.config.gcSchedule;
  const gc =
    gcSchedule === null
      ? undefined
      : new ScheduledGc({
          schedule: gcSchedule,
          graceMs: app.config.gcGraceMs,
          state: app.state,
          store: app.blobs,
          logger: app.logger,
        });
  const adminToken = io.env.FRESHMIRROR_ADMIN_TOKEN;
  const listenHost = listen.slice(0, at).replace(/^\[|\]$/g, "") || "0.0.0.0";
  const running = await startServer(app, listenHost, Number(listen.slice(at + 1)), {
    scheduler,
    adminToken,
    gc,
    // Without public_url, event and webhook URLs use the address actually listened on; a wildcard
    // address becomes this machine's host name. Fixed here, before any request or sync uses it.
    onListening: (url) => {
      const port = new URL(url).port;
      app.publicUrls.fixAtListen(
        listenHost === "0.0.0.0" || listenHost === "::" ? `http://${hostname()}:${port}` : url,
      );
    },
  });
  io.stdout.write(
    `freshmirror serving ${app.config.mirrors.length} mirror(s) on ${running.url} (config: ${app.config.source}, data: ${app.dataDir})\n`,
  );
  for (const mirror of app.config.mirrors) {
    io.stdout.write(
      `  /${mirror.name}/  ${mirror.mode} of ${redactUrl(mirror.upstream)}${describeServed(mirror)}${describeScheduling(mirror)}\n`,
    );
  }
  io.stdout.write(
    adminToken
      ? "  admin API enabled (FRESHMIRROR_ADMIN_TOKEN is set)\n"
      : "  admin API disabled: set FRESHMIRROR_ADMIN_TOKEN to enable sync/pause/resume calls\n",
  );
  io.stdout.write(
    gcSchedule === null
      ? "  gc: off (gc_schedule); run `freshmirror gc` to remove unreferenced blobs\n"
      : `  gc: ${describeSchedule(gcSchedule)}, blobs unreferenced for ${formatDuration(app.config.gcGraceMs)}\n`,
  );
  await scheduler.start();
  watcher.start();
  gc?.start();
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  io.stdout.write("freshmirror: shutting down\n");
  watcher.stop();
  await gc?.stop();
  await scheduler.stop();
  await running.close();
  await app.close();
  return EXIT_OK;
}

/** What a mirror serves under its name, when its kind says (PyPI's indexes). */
function describeServed(mirror: MirrorConfig): string {
  const indexes = (mirror as { indexes?: readonly string[] }).indexes;
  return indexes ? ` [${indexes.join(", ")}]` : "";
}

function describeScheduling(mirror: MirrorConfig): string {
  if (mirror.disabled) return " (disabled)";
  if (mirror.mode !== "mirror") return "";
  const watch = mirror.watchMs === undefined ? "" : `, watch every ${Math.round(mirror.watchMs / 1000)}s`;
  return ` sync ${describeSchedule(mirror.schedule)}${watch}${mirror.paused ? " (paused)" : ""}`;
}
