import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, get, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { pypiSubjectMatcher } from "../pypi/subject-matcher.js";
import { EventBus } from "./event-bus.js";
import { eventFilterFromQuery, type SseStream, streamEvents } from "./sse-stream.js";
import { literalMatcher } from "./subject-matcher.js";

/** Every mirror in the stream tests is a PyPI mirror. */
const matcherFor = () => pypiSubjectMatcher;

interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
}

/** A real HTTP client reading the stream: messages and comment lines as they arrive. */
class SseClient {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  readonly response: IncomingMessage;
  #buffer = "";
  #waiters: (() => void)[] = [];

  private constructor(response: IncomingMessage) {
    this.response = response;
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => {
      this.#buffer += chunk;
      for (let at = this.#buffer.indexOf("\n\n"); at !== -1; at = this.#buffer.indexOf("\n\n")) {
        const block = this.#buffer.slice(0, at);
        this.#buffer = this.#buffer.slice(at + 2);
        const message: SseMessage = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) this.comments.push(line.slice(1).trim());
          else if (line.startsWith("id: ")) message.id = line.slice(4);
          else if (line.startsWith("event: ")) message.event = line.slice(7);
          else if (line.startsWith("data: ")) message.data = line.slice(6);
        }
        if (message.data !== undefined) this.messages.push(message);
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  static async connect(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const request = get(url, { headers: { accept: "text/event-stream", ...headers } });
    const [response] = (await once(request, "response")) as [IncomingMessage];
    return new SseClient(response);
  }

  async until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  close(): void {
    this.response.destroy();
  }
}

async function startSseServer(bus: EventBus, heartbeatMs = 15_000) {
  const streams: SseStream[] = [];
  const server = createServer((req, res) => {
    streams.push(streamEvents(bus, req, res, { matcherFor, heartbeatMs }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/events`;
  return {
    url,
    streams,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test("SSE: a client receives events as id/event/data lines; a reconnect with Last-Event-ID gets the missed ones", async (t) => {
  const bus = new EventBus();
  const server = await startSseServer(bus);
  t.after(() => server.close());

  const client = await SseClient.connect(server.url);
  assert.equal(client.response.statusCode, 200);
  assert.match(client.response.headers["content-type"] ?? "", /^text\/event-stream/);
  await client.until(() => client.comments.length > 0, "the opening comment");
  bus.emit({ type: "sync.started", mirror: "pytorch", runId: 1 });
  bus.emit({ type: "release.new", mirror: "pytorch", project: "torch", version: "2.9.1", files: [] });
  await client.until(() => client.messages.length === 2, "two events");
  assert.deepEqual(
    client.messages.map((m) => [m.id, m.event]),
    [
      ["1", "sync.started"],
      ["2", "release.new"],
    ],
  );
  const data = JSON.parse(client.messages[1]?.data ?? "{}");
  assert.equal(data.version, "2.9.1");
  assert.equal(data.id, 2);

  client.close();
  await server.streams[0]?.closed;
  assert.equal(bus.listenerCount, 0, "the closed stream unsubscribed");

  // Missed while disconnected.
  bus.emit({
    type: "sync.succeeded",
    mirror: "pytorch",
    runId: 1,
    filesAdded: 6,
    bytesAdded: 10,
    filesRemoved: 0,
    durationMs: 5,
  });
  bus.emit({ type: "sync.started", mirror: "pypi", runId: 2 });

  const again = await SseClient.connect(server.url, { "last-event-id": "2" });
  t.after(() => again.close());
  await again.until(() => again.messages.length === 2, "the two missed events");
  bus.emit({ type: "sync.failed", mirror: "pypi", runId: 2, error: "upstream down" });
  await again.until(() => again.messages.length === 3, "the live event after the replay");
  assert.deepEqual(
    again.messages.map((m) => [m.id, m.event]),
    [
      ["3", "sync.succeeded"],
      ["4", "sync.started"],
      ["5", "sync.failed"],
    ],
  );
});

test("SSE: the query filters events by type (aliases too), mirror and project", async (t) => {
  const bus = new EventBus();
  const server = await startSseServer(bus);
  t.after(() => server.close());
  const client = await SseClient.connect(`${server.url}?type=new_version&mirror=pytorch&project=Torch`);
  t.after(() => client.close());
  await client.until(() => client.comments.length > 0, "the opening comment");
  bus.emit({ type: "sync.started", mirror: "pytorch", runId: 1 });
  bus.emit({ type: "release.new", mirror: "pypi", project: "torch", version: "2.9.1", files: [] });
  bus.emit({ type: "release.new", mirror: "pytorch", project: "numpy", version: "2.0.0", files: [] });
  bus.emit({ type: "release.new", mirror: "pytorch", project: "torch", version: "2.9.1", files: [] });
  await client.until(() => client.messages.length === 1, "the one matching event");
  bus.emit({ type: "sync.failed", mirror: "pytorch", runId: 1, error: "x" });
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(
    client.messages.map((m) => m.id),
    ["4"],
  );
});

test("SSE: heartbeat comments keep an idle stream alive", async (t) => {
  const bus = new EventBus();
  const server = await startSseServer(bus, 50);
  t.after(() => server.close());
  const client = await SseClient.connect(server.url);
  t.after(() => client.close());
  await client.until(
    () => client.comments.filter((c) => c.startsWith("heartbeat")).length >= 2,
    "two heartbeats",
  );
  assert.equal(client.messages.length, 0);
});

test("SSE: ?project= compares names as the matcher of each event's mirror does", () => {
  const bus = new EventBus();
  const filter = eventFilterFromQuery(new URLSearchParams("project=Torch_Audio"), (mirror) =>
    mirror === "images" ? literalMatcher : pypiSubjectMatcher,
  );
  const release = (mirror: string, project: string) =>
    bus.emit({ type: "release.new", mirror, project, version: "2.6.0", files: [] });
  assert.equal(filter(release("pytorch", "torch-audio")), true, "PEP 503 on a PyPI mirror");
  assert.equal(filter(release("pytorch", "torch.audio")), true);
  assert.equal(filter(release("pytorch", "torchaudio")), false);
  assert.equal(filter(release("images", "torch-audio")), false, "exact names on a mirror without PEP 503");
  assert.equal(filter(release("images", "Torch_Audio")), true);
  assert.equal(
    filter(bus.emit({ type: "sync.started", mirror: "pytorch", runId: 1 })),
    false,
    "an event about a whole mirror has no project",
  );
});
