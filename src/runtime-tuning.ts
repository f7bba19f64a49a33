// V8 settings for the server process: `npm start` (src/main.ts) applies AGENTAUTH_V8_FLAGS (default in
// src/config.ts) right after reading its configuration, before anything is compiled or allocated in bulk. What the
// defaults do, measured with `npm run bench` (server peak RSS under 64 connections; ratios to the fair peer
// unchanged within the machine's noise):
//  - `--liftoff-only`: Prisma 7's query compiler is a WebAssembly module; V8 otherwise recompiles its hot functions
//    with TurboFan and keeps ~50 MB of that code for the life of the process. Prisma serves the admin side; the
//    token endpoint's statements go through pg (src/tokens, src/clients, ...), so baseline-compiled WebAssembly costs
//    the hot path nothing measurable. (V8 lists the flag among its testing flags; it has been stable for years.)
//  - `--heap-growing-percent=50`: under load V8 lets the old generation grow to up to 4x its live size before the next
//    full collection; with ~40 MB live, request garbage promoted from the young generation took RSS past 300 MB.
//    A 1.5x limit collects it sooner (marking runs concurrently on a helper thread).
// Together: peak RSS 311-399 MB -> ~200 MB on Node 20. Both flags exist in Node 20 and 24.
//
// One setting V8 takes only from the command line: the young generation's size. Node 24 sizes it by the machine's
// memory (64 MB semi-spaces on a 24 GiB machine, 128 MB of new space: peak RSS 334 MB under the bench), Node 20 uses
// 16 MB. `npm start`, the Dockerfile and the bench start the server with SERVER_NODE_ARGS, the same size on both.
// 32 MB, measured with `--trace-gc` under the bench's token exchange (Node 20): each scavenge copies what the ~64
// requests in flight hold, so fewer, larger ones cost less per request: 16 MB scavenged 13.5 times a second for
// 97 µs of main-thread time per request, 32 MB 11 times a second at a higher rate for 58 µs; peak RSS 194 -> 226 MB.
// On Node 24, two alternating runs each: exchange 0.32x / 0.32x of the fair peer with 16 MB, 0.36x / 0.38x with 32 MB,
// peak RSS 228-236 -> 248-261 MB. (64 MB on Node 20: no clear gain in one run, 0.36x vs 0.34x; peak RSS 281 MB, too near
// the 300 MB line.)
//
// The other: how many helper threads V8's platform runs (garbage collection's parallel and concurrent work). Node starts
// four whatever the machine; `--v8-pool-size=0` sizes the pool to the machine (available parallelism - 1, at least 1).
// On the 2-core bench machine that is one helper: four helpers, PostgreSQL's backends and the clients took turns on
// two cores with the main thread, which waited for a CPU 16-18% of an exchange run (the kernel's schedstat) against
// 10-11% with one. In four alternating pairs (Node 20): exchange p99 81/81/83/88 ms -> 79/69/73/80, ratio to the fair
// peer 0.46/0.41/0.44/0.45 -> 0.47/0.45/0.44/0.45, server CPU per request 558-588 -> 523-600 µs.
// test/config.test.ts keeps the three command lines equal to this list.
import v8 from 'node:v8';

export const SERVER_NODE_ARGS = ['--max-semi-space-size=32', '--v8-pool-size=0'] as const;

export function applyV8Flags(flags: readonly string[]): void {
  for (const flag of flags) v8.setFlagsFromString(flag);
}
