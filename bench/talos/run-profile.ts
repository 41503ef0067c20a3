// Drives the stress profile's virtual users: every scenario gets as many VU loops as its stages ever
// want; a VU runs iterations back to back (closed loop, like k6) while its number is below what the
// stage wants at that moment, and idles otherwise, so the running VUs follow the ramps.
import { ITERATIONS, type TalosContext } from "./iterations.js";
import { profileDurationMs, vusAt, type TalosScenario } from "./stress-profile.js";

const IDLE_POLL_MS = 50;

export async function runStressProfile(scenarios: readonly TalosScenario[], ctx: TalosContext): Promise<void> {
  const started = performance.now();
  const endsAt = started + profileDurationMs(scenarios);
  let nextVu = 1;
  const loops: Array<Promise<void>> = [];
  for (const scenario of scenarios) {
    const iterate = ITERATIONS[scenario.exec];
    const slots = Math.max(...scenario.stages.map((s) => s.target), 1);
    for (let slot = 0; slot < slots; slot++) {
      const vu = nextVu++;
      loops.push(
        (async () => {
          let iteration = 0;
          for (;;) {
            const now = performance.now();
            if (now >= endsAt) return;
            if (slot >= vusAt(scenario.stages, now - started)) {
              await new Promise((resolve) => setTimeout(resolve, IDLE_POLL_MS));
              continue;
            }
            try {
              await iterate(ctx, { vu, iteration });
            } catch (err) {
              // An iteration never throws on a failed request (the recorder counts it); anything
              // else is the harness's own bug, and should stop the run.
              throw new Error(`${scenario.name} VU ${vu} iteration ${iteration}: ${(err as Error).message}`);
            }
            iteration++;
          }
        })(),
      );
    }
  }
  await Promise.all(loops);
}
