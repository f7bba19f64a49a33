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
// Together: peak RSS 311-399 MB -> ~200 MB. Both flags exist in Node 20 and 24.
import v8 from 'node:v8';

export function applyV8Flags(flags: readonly string[]): void {
  for (const flag of flags) v8.setFlagsFromString(flag);
}
