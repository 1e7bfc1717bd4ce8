// Walking strided views: merges dims that are laid out together, then visits one innermost row at a time.

/** Shape and per-operand strides with size-1 dims dropped and mergeable neighbours merged. */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const s: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = s.length - 1;
    if (last >= 0 && strides.every((str, k) => st[k]![last] === str[d]! * n)) {
      s[last] = s[last]! * n;
      strides.forEach((str, k) => (st[k]![last] = str[d]!));
    } else {
      s.push(n);
      strides.forEach((str, k) => st[k]!.push(str[d]!));
    }
  }
  if (s.length === 0) {
    s.push(1);
    st.forEach((a) => a.push(0));
  }
  return { shape: s, strides: st };
}

/**
 * Calls `row(offsets, len)` once per innermost row of `shape`, with each operand's starting offset.
 * The caller reads its inner strides from the collapsed strides' last entries.
 */
export function forEachRow(shape: readonly number[], strides: readonly (readonly number[])[], offsets: readonly number[], row: (offs: number[], len: number) => void): void {
  const rank = shape.length;
  const len = shape[rank - 1]!;
  if (len === 0) return;
  for (const d of shape) if (d === 0) return;
  const k = offsets.length;
  const offs = [...offsets];
  const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  for (;;) {
    row(offs, len);
    let d = rank - 2;
    for (; d >= 0; d--) {
      idx[d]!++;
      for (let j = 0; j < k; j++) offs[j]! += strides[j]![d]!;
      if (idx[d]! < shape[d]!) break;
      for (let j = 0; j < k; j++) offs[j]! -= strides[j]![d]! * shape[d]!;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/** Calls `fn(index)` for every multi-index of `shape` in row-major order (the slow general path). */
export function forEachIndex(shape: readonly number[], fn: (idx: number[], linear: number) => void): void {
  for (const d of shape) if (d === 0) return;
  const idx = new Array<number>(shape.length).fill(0);
  let linear = 0;
  for (;;) {
    fn(idx, linear++);
    let d = shape.length - 1;
    for (; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}
