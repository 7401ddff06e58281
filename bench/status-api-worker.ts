// The load process of the status benchmark (forked by status-api.ts): sends GETs at a fixed rate
// (an open loop: a request goes out on schedule whether or not earlier ones have answered) and
// reports each request's latency measured from when it was due, so a stalled server shows up as
// latency instead of as fewer requests ("coordinated omission").
import { Pool } from "undici";

export interface FixedRateJob {
  url: string;
  ratePerSecond: number;
  durationMs: number;
  /** Most requests in flight at once (connections). */
  connections: number;
}

export interface FixedRateResult {
  sent: number;
  errors: number;
  /** Per request, from its due time to the last body byte, in ms. */
  latenciesMs: number[];
  seconds: number;
  bodyBytes: number;
}

async function fixedRate(job: FixedRateJob): Promise<FixedRateResult> {
  const url = new URL(job.url);
  const pool = new Pool(url.origin, { connections: job.connections, pipelining: 1 });
  const path = `${url.pathname}${url.search}`;
  const interval = 1000 / job.ratePerSecond;
  const total = Math.round((job.durationMs / 1000) * job.ratePerSecond);
  const latencies: number[] = [];
  let errors = 0;
  let bodyBytes = 0;
  const inFlight: Promise<void>[] = [];
  const started = performance.now();
  try {
    for (let i = 0; i < total; i++) {
      const due = started + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      inFlight.push(
        pool
          .request({ method: "GET", path })
          .then(async (res) => {
            const body = await res.body.arrayBuffer();
            latencies.push(performance.now() - due);
            if (res.statusCode === 200) bodyBytes = body.byteLength;
            else errors++;
          })
          .catch(() => {
            errors++;
          }),
      );
    }
    await Promise.all(inFlight);
    return {
      sent: total,
      errors,
      latenciesMs: latencies,
      seconds: (performance.now() - started) / 1000,
      bodyBytes,
    };
  } finally {
    await pool.close();
  }
}

process.on("message", (message: { id: number; job: FixedRateJob }) => {
  fixedRate(message.job).then(
    (result) => process.send?.({ id: message.id, result }),
    (error: unknown) => process.send?.({ id: message.id, error: String(error) }),
  );
});
