// V8 settings for the server process, applied by `npm start` (src/main.ts) before anything is compiled or allocated
// in bulk. Measured with `npm run bench` (server RSS under 64 connections; ratios to the fair peer unchanged within
// the machine's noise):
//  - `--liftoff-only`: Prisma 7's query compiler is a WebAssembly module; V8 otherwise recompiles its hot functions
//    with TurboFan, which keeps ~50 MB of compiled code for the life of the process. Prisma serves the admin side;
//    the token endpoint's statements go through pg directly (src/tokens, src/clients, ...), so baseline-compiled
//    WebAssembly costs the hot path nothing measurable.
//  - `--heap-growing-percent=50`: under load V8 lets the old generation grow to up to 4x its live size before the next
//    full collection; with ~40 MB live, request garbage promoted from the young generation pushed RSS past 300 MB.
//    A 1.5x limit collects it sooner (concurrent marking on a helper thread) and keeps RSS near 200 MB.
import v8 from 'node:v8';

export const SERVER_V8_FLAGS = ['--liftoff-only', '--heap-growing-percent=50'] as const;

export function applyServerV8Flags(): void {
  for (const flag of SERVER_V8_FLAGS) v8.setFlagsFromString(flag);
}
