import { startServer } from "../http/server.js";
import { type CommandIo, EXIT_OK, parseCommandArgs } from "./command-io.js";
import { openApp } from "./open-app.js";

export const serveHelp = `freshmirror serve [--config FILE] [--listen HOST:PORT]

Serves every configured mirror: PyPI-style simple indexes and files, the status page.`;

export async function serveCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandArgs(argv, { listen: { type: "string" } }, false);
  if (values.help) {
    io.stdout.write(`${serveHelp}\n`);
    return EXIT_OK;
  }
  const app = await openApp(values.config, io);
  const listen = values.listen ?? `${app.config.listen.host}:${app.config.listen.port}`;
  const at = listen.lastIndexOf(":");
  const running = await startServer(
    app,
    listen.slice(0, at).replace(/^\[|\]$/g, "") || "0.0.0.0",
    Number(listen.slice(at + 1)),
  );
  io.stdout.write(
    `freshmirror serving ${app.config.mirrors.length} mirror(s) on ${running.url} (config: ${app.config.source}, data: ${app.dataDir})\n`,
  );
  for (const mirror of app.config.mirrors) {
    io.stdout.write(
      `  /${mirror.name}/  ${mirror.mode} of ${mirror.upstream} [${mirror.indexes.join(", ")}]\n`,
    );
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  io.stdout.write("freshmirror: shutting down\n");
  await running.close();
  await app.close();
  return EXIT_OK;
}
