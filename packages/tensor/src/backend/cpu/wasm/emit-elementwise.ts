import type { ModuleBuilder } from "./emit.js"; export function emitElementwise(mb: ModuleBuilder): void { void mb; }
