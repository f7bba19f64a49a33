// One load run, in a process of its own so the load generator never shares a CPU-time slice (or an event loop) with
// the orchestrator: bench/run.ts spawns it with a JSON job and reads one JSON result line from stdout.
import autocannon from 'autocannon';

type Job = { url: string; body: string; headers: Record<string, string>; connections: number; duration: number; warmup: number };

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const options = {
  url: job.url,
  method: 'POST' as const,
  body: job.body,
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...job.headers },
  connections: job.connections,
};
// Bounded: a few seconds of warm-up (JIT, pools, caches), then the measured run; both end on their own.
const warm = job.warmup > 0 ? await autocannon({ ...options, duration: job.warmup }) : undefined;
const result = await autocannon({ ...options, duration: job.duration });
process.stdout.write(
  `${JSON.stringify({
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    total: result.requests.total,
    // Every request this process sent, warm-up included (the server's CPU time per request divides by it).
    sent: result.requests.total + (warm?.requests.total ?? 0),
  })}\n`,
);
