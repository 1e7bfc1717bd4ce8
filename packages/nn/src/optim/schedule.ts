// Learning-rate schedules: a multiplier of each group's initial lr per step, as torch.optim.lr_scheduler.LambdaLR,
// with the warmup + decay shapes of Hugging Face transformers' get_*_schedule_with_warmup.
import type { Optimizer } from './optimizer.js';

/** Sets lr = initialLr * lambda(step) on every group at each step(). */
export class LambdaLR {
  /** Steps taken so far (torch's last_epoch). */
  lastEpoch = 0;
  readonly baseLrs: number[];

  constructor(readonly optimizer: Optimizer<{ lr: number }>, readonly lrLambda: (step: number) => number) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }

  /** Advances one step and updates the learning rates. */
  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** The current learning rate of each group. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  private apply(): void {
    const f = this.lrLambda(this.lastEpoch);
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = this.baseLrs[i]! * f));
  }

  /** Serializable state (the step count and base rates). */
  stateDict(): { lastEpoch: number; baseLrs: number[] } {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  /** Restores stateDict(). */
  loadStateDict(sd: { lastEpoch: number; baseLrs: number[] }): void {
    this.lastEpoch = sd.lastEpoch;
    this.baseLrs.splice(0, this.baseLrs.length, ...sd.baseLrs);
    this.apply();
  }
}

function checkSteps(name: string, warmup: number, total: number): void {
  if (!Number.isInteger(warmup) || !Number.isInteger(total) || warmup < 0 || total <= 0) {
    throw new Error(`${name}: warmup (${warmup}) and total (${total}) steps must be integers, warmup >= 0 and total > 0`);
  }
}

/** Linear warmup from 0 to the base lr over `warmupSteps`, then linear decay to 0 at `totalSteps`. */
export function getLinearScheduleWithWarmup(optimizer: Optimizer<{ lr: number }>, warmupSteps: number, totalSteps: number): LambdaLR {
  checkSteps('getLinearScheduleWithWarmup', warmupSteps, totalSteps);
  return new LambdaLR(optimizer, (s) =>
    s < warmupSteps ? s / Math.max(1, warmupSteps) : Math.max(0, (totalSteps - s) / Math.max(1, totalSteps - warmupSteps)),
  );
}

/** Linear warmup, then cosine decay (numCycles = 0.5: one half-cosine down to 0 at `totalSteps`). */
export function getCosineScheduleWithWarmup(optimizer: Optimizer<{ lr: number }>, warmupSteps: number, totalSteps: number, numCycles = 0.5): LambdaLR {
  checkSteps('getCosineScheduleWithWarmup', warmupSteps, totalSteps);
  return new LambdaLR(optimizer, (s) => {
    if (s < warmupSteps) return s / Math.max(1, warmupSteps);
    const progress = (s - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * numCycles * 2 * progress)));
  });
}
