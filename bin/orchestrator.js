#!/usr/bin/env node
// The `orchestrator` CLI. Runs the TypeScript source through tsx (a dependency), so there is no build step.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/index.ts");
