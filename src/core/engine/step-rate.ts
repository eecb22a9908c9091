// The step rate of the node reporting progress (a sampler), from its `progress` messages: what an
// attempt's time-left estimate is made of.

export class StepRate {
  private rate: { node: string; v0: number; t0: number; value: number; t: number; max: number } | null = null;

  /** A progress step; a new node or a step count that went back starts the measurement again. */
  step(node: string, value: number, max: number, now: number): void {
    if (!this.rate || this.rate.node !== node || value < this.rate.value) {
      this.rate = { node, v0: value, t0: now, value, t: now, max };
    } else Object.assign(this.rate, { value, t: now, max });
  }

  /**
   * Time left in the node reporting progress, from its step rate; null before it has reported two steps.
   * Nodes after it are not counted, so this errs early, never late.
   */
  remainingMs(): number | null {
    const r = this.rate;
    if (!r || r.value <= r.v0 || r.t <= r.t0) return null;
    return ((r.max - r.value) * (r.t - r.t0)) / (r.value - r.v0);
  }
}
