// The checkpoints a simulated host keeps in VRAM. A loader node whose checkpoint is not warm spends loadMs
// (disk → RAM → VRAM) before its outputs exist, evicting the least recently used one past `slots`; each warm
// checkpoint holds modelBytes of VRAM. Nothing else reveals what is warm: only timing and /system_stats.

/** Loader inputs that name a checkpoint-sized model: what occupies a slot. */
const CHECKPOINT_INPUTS = new Set(["ckpt_name", "unet_name"]);

export interface ModelCacheOptions {
  /** Milliseconds to load one checkpoint that is not warm (0: loads are free). */
  loadMs: number;
  /** Checkpoints kept warm at once (ComfyUI's default keeps the last prompt's). */
  slots: number;
  /** VRAM one warm checkpoint holds. */
  modelBytes: number;
}

export class ModelCache {
  /** Least recently used first. */
  private readonly warm: string[] = [];
  constructor(
    private readonly o: ModelCacheOptions,
    private readonly onLoad: () => void = () => {},
  ) {}

  /** Runs before a node executes: loads the checkpoints it names that are not warm. */
  async beforeNode(inputs: Record<string, unknown>, sleep: (ms: number) => Promise<void>): Promise<void> {
    for (const [input, value] of Object.entries(inputs)) {
      if (!CHECKPOINT_INPUTS.has(input) || typeof value !== "string") continue;
      const at = this.warm.indexOf(value);
      if (at >= 0) {
        this.warm.splice(at, 1);
        this.warm.push(value);
        continue;
      }
      // Eviction first, as ComfyUI frees memory before loading; an interrupted load leaves nothing warm.
      while (this.warm.length >= Math.max(1, this.o.slots)) this.warm.shift();
      if (this.o.loadMs > 0) await sleep(this.o.loadMs);
      this.warm.push(value);
      this.onLoad();
    }
  }

  clear(): void {
    this.warm.length = 0;
  }

  heldBytes(): number {
    return this.warm.length * this.o.modelBytes;
  }
}
