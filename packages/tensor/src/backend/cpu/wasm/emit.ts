// A tiny WebAssembly binary module builder: just enough to emit our SIMD kernels from TypeScript.
// Instructions are written by name (`f.$('f32x4.mul')`), locals are allocated by type, and the
// module imports one memory `env.mem` (shared when the host supports it).

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128';
const VT: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128. */
export function uleb(out: number[], v: number): void {
  v = v >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}
/** Signed LEB128 (32-bit range, or bigint for i64). */
export function sleb(out: number[], v: number | bigint): void {
  let x = BigInt(v);
  for (;;) {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

// Plain opcodes without immediates.
const PLAIN: Record<string, number> = {
  unreachable: 0x00, nop: 0x01, else: 0x05, end: 0x0b, return: 0x0f, drop: 0x1a, select: 0x1b,
  'i32.eqz': 0x45, 'i32.eq': 0x46, 'i32.ne': 0x47, 'i32.lt_s': 0x48, 'i32.lt_u': 0x49, 'i32.gt_s': 0x4a,
  'i32.gt_u': 0x4b, 'i32.le_s': 0x4c, 'i32.le_u': 0x4d, 'i32.ge_s': 0x4e, 'i32.ge_u': 0x4f,
  'f32.eq': 0x5b, 'f32.ne': 0x5c, 'f32.lt': 0x5d, 'f32.gt': 0x5e, 'f32.le': 0x5f, 'f32.ge': 0x60,
  'f64.eq': 0x61, 'f64.ne': 0x62, 'f64.lt': 0x63, 'f64.gt': 0x64, 'f64.le': 0x65, 'f64.ge': 0x66,
  'i32.add': 0x6a, 'i32.sub': 0x6b, 'i32.mul': 0x6c, 'i32.div_s': 0x6d, 'i32.div_u': 0x6e, 'i32.rem_s': 0x6f,
  'i32.rem_u': 0x70, 'i32.and': 0x71, 'i32.or': 0x72, 'i32.xor': 0x73, 'i32.shl': 0x74, 'i32.shr_s': 0x75,
  'i32.shr_u': 0x76, 'i32.ctz': 0x68,
  'i64.add': 0x7c, 'i64.sub': 0x7d, 'i64.mul': 0x7e, 'i64.and': 0x83, 'i64.or': 0x84, 'i64.shl': 0x86,
  'i64.shr_s': 0x87, 'i64.shr_u': 0x88,
  'f32.abs': 0x8b, 'f32.neg': 0x8c, 'f32.floor': 0x8e, 'f32.nearest': 0x90, 'f32.sqrt': 0x91, 'f32.add': 0x92,
  'f32.sub': 0x93, 'f32.mul': 0x94, 'f32.div': 0x95, 'f32.min': 0x96, 'f32.max': 0x97,
  'f64.abs': 0x99, 'f64.neg': 0x9a, 'f64.floor': 0x9c, 'f64.nearest': 0x9e, 'f64.sqrt': 0x9f, 'f64.add': 0xa0,
  'f64.sub': 0xa1, 'f64.mul': 0xa2, 'f64.div': 0xa3, 'f64.min': 0xa4, 'f64.max': 0xa5,
  'i32.wrap_i64': 0xa7, 'i32.trunc_f64_s': 0xaa, 'i64.extend_i32_s': 0xac, 'i64.extend_i32_u': 0xad,
  'f32.demote_f64': 0xb6, 'f64.convert_i32_s': 0xb7, 'f64.convert_i64_s': 0xb9, 'f64.promote_f32': 0xbb,
  'i32.reinterpret_f32': 0xbc, 'i64.reinterpret_f64': 0xbd, 'f32.reinterpret_i32': 0xbe, 'f64.reinterpret_i64': 0xbf,
};
// SIMD opcodes (0xfd prefix) without immediates.
const SIMD: Record<string, number> = {
  'i32x4.splat': 0x11, 'i64x2.splat': 0x12, 'f32x4.splat': 0x13, 'f64x2.splat': 0x14,
  'f32x4.eq': 0x41, 'f32x4.ne': 0x42, 'f32x4.lt': 0x43, 'f32x4.gt': 0x44, 'f32x4.le': 0x45, 'f32x4.ge': 0x46,
  'f64x2.eq': 0x47, 'f64x2.ne': 0x48, 'f64x2.lt': 0x49, 'f64x2.gt': 0x4a, 'f64x2.le': 0x4b, 'f64x2.ge': 0x4c,
  'v128.not': 0x4d, 'v128.and': 0x4e, 'v128.andnot': 0x4f, 'v128.or': 0x50, 'v128.xor': 0x51,
  'v128.bitselect': 0x52, 'v128.any_true': 0x53,
  'f32x4.demote_f64x2_zero': 0x5e, 'f64x2.promote_low_f32x4': 0x5f,
  'f32x4.ceil': 0x67, 'f32x4.floor': 0x68, 'f32x4.trunc': 0x69, 'f32x4.nearest': 0x6a,
  'f64x2.ceil': 0x74, 'f64x2.floor': 0x75, 'f64x2.trunc': 0x7a, 'f64x2.nearest': 0x94,
  'i32x4.eq': 0x37, 'i32x4.gt_s': 0x3b, 'i32x4.gt_u': 0x3c, 'i32x4.max_u': 0xb9,
  'i8x16.splat': 0x0f, 'i8x16.shr_u': 0x6d, 'i8x16.sub': 0x71,
  'i16x8.shr_u': 0x8d, 'i16x8.add': 0x8e, 'i16x8.sub': 0x91, 'i8x16.narrow_i16x8_s': 0x65, 'i16x8.narrow_i32x4_s': 0x85, 'i32x4.bitmask': 0xa4, 'i8x16.narrow_i16x8_u': 0x66,
  'i16x8.narrow_i32x4_u': 0x86,
  'i16x8.extend_low_i8x16_s': 0x87, 'i16x8.extend_high_i8x16_s': 0x88,
  'i32x4.extend_low_i16x8_s': 0xa7, 'i32x4.extend_high_i16x8_s': 0xa8,
  'i32x4.extend_low_i16x8_u': 0xa9, 'i32x4.extend_high_i16x8_u': 0xaa, 'i32x4.dot_i16x8_s': 0xba,
  'i32x4.shl': 0xab, 'i32x4.shr_s': 0xac, 'i32x4.shr_u': 0xad, 'i32x4.add': 0xae, 'i32x4.sub': 0xb1,
  'i32x4.mul': 0xb5, 'i32x4.min_s': 0xb6, 'i32x4.max_s': 0xb8,
  'i64x2.extend_low_i32x4_s': 0xc7, 'i64x2.shl': 0xcb, 'i64x2.shr_s': 0xcc, 'i64x2.shr_u': 0xcd,
  'i64x2.add': 0xce, 'i64x2.sub': 0xd1,
  'f32x4.abs': 0xe0, 'f32x4.neg': 0xe1, 'f32x4.sqrt': 0xe3, 'f32x4.add': 0xe4, 'f32x4.sub': 0xe5,
  'f32x4.mul': 0xe6, 'f32x4.div': 0xe7, 'f32x4.min': 0xe8, 'f32x4.max': 0xe9, 'f32x4.pmin': 0xea, 'f32x4.pmax': 0xeb,
  'f64x2.abs': 0xec, 'f64x2.neg': 0xed, 'f64x2.sqrt': 0xef, 'f64x2.add': 0xf0, 'f64x2.sub': 0xf1,
  'f64x2.mul': 0xf2, 'f64x2.div': 0xf3, 'f64x2.min': 0xf4, 'f64x2.max': 0xf5, 'f64x2.pmin': 0xf6, 'f64x2.pmax': 0xf7,
  'i32x4.trunc_sat_f32x4_s': 0xf8, 'f32x4.convert_i32x4_s': 0xfa, 'i32x4.trunc_sat_f64x2_s_zero': 0xfc,
  'f64x2.convert_low_i32x4_s': 0xfe,
  'f32x4.relaxed_madd': 0x105, 'f32x4.relaxed_nmadd': 0x106, 'f64x2.relaxed_madd': 0x107,
  'i16x8.relaxed_dot_i8x16_i7x16_s': 0x112,
};
// Memory ops: [prefix?, opcode, natural alignment log2].
const MEM: Record<string, [boolean, number, number]> = {
  'i32.load': [false, 0x28, 2], 'i64.load': [false, 0x29, 3], 'f32.load': [false, 0x2a, 2], 'f64.load': [false, 0x2b, 3],
  'i32.store': [false, 0x36, 2], 'i64.store': [false, 0x37, 3], 'f32.store': [false, 0x38, 2], 'f64.store': [false, 0x39, 3],
  'i32.load16_u': [false, 0x2f, 1], 'i32.store16': [false, 0x3b, 1],
  'v128.load': [true, 0x00, 4], 'v128.load8x8_s': [true, 0x01, 3], 'v128.load8x8_u': [true, 0x02, 3], 'v128.load16x4_u': [true, 0x04, 3], 'v128.load32_splat': [true, 0x09, 2], 'v128.load64_splat': [true, 0x0a, 3],
  'v128.store': [true, 0x0b, 4], 'v128.load32_zero': [true, 0x5c, 2], 'v128.load64_zero': [true, 0x5d, 3],
  'v128.load16_lane': [true, 0x55, 1], 'v128.load64_lane': [true, 0x57, 3], 'v128.store64_lane': [true, 0x5b, 3], 'v128.store32_lane': [true, 0x5a, 2],
};
const LANE: Record<string, number> = {
  'i32x4.extract_lane': 0x1b, 'i32x4.replace_lane': 0x1c, 'i64x2.extract_lane': 0x1d, 'f32x4.extract_lane': 0x1f,
  'f32x4.replace_lane': 0x20, 'f64x2.extract_lane': 0x21, 'f64x2.replace_lane': 0x22,
};

export class Func {
  readonly code: number[] = [];
  readonly locals: ValType[] = [];
  private depth = 0;
  constructor(
    readonly name: string,
    readonly params: ValType[],
    readonly results: ValType[],
  ) {}
  private readonly prologue: number[] = [];
  private readonly consts = new Map<string, number>();
  /**
   * Pushes a v128 constant kept in a local set once at function entry (V8 builds each v128.const
   * with several instructions; a local is one register or one stack load).
   */
  k(kind: 'f64x2' | 'f32x4' | 'i64x2' | 'i32x4', v: number | bigint): this {
    const key = kind + ':' + String(v) + (Object.is(v, -0) ? '-' : '');
    let l = this.consts.get(key);
    if (l === undefined) {
      l = this.local('v128');
      this.consts.set(key, l);
      const saved = this.code.length;
      if (kind === 'i64x2') this.i64x2(v as bigint);
      else this[kind](v as number);
      this.set(l);
      this.prologue.push(...this.code.splice(saved));
    }
    return this.get(l);
  }
  /** Allocates a new local of the given type and returns its index. */
  local(t: ValType): number {
    this.locals.push(t);
    return this.params.length + this.locals.length - 1;
  }
  /** Emits instructions by name; memory ops take (offset) and optionally a lane index for *_lane. */
  $(name: string, imm?: number, imm2?: number): this {
    const c = this.code;
    const p = PLAIN[name];
    if (p !== undefined) {
      if (name === 'end') this.depth--;
      c.push(p);
      return this;
    }
    const s = SIMD[name];
    if (s !== undefined) {
      c.push(0xfd);
      uleb(c, s);
      return this;
    }
    const m = MEM[name];
    if (m !== undefined) {
      if (m[0]) c.push(0xfd);
      if (m[0]) uleb(c, m[1]);
      else c.push(m[1]);
      uleb(c, m[2]);
      uleb(c, imm ?? 0);
      if (name.endsWith('_lane')) c.push(imm2 ?? 0);
      return this;
    }
    const l = LANE[name];
    if (l !== undefined) {
      c.push(0xfd);
      uleb(c, l);
      c.push(imm ?? 0);
      return this;
    }
    throw new Error(`emit: unknown instruction ${name}`);
  }
  get(i: number): this { this.code.push(0x20); uleb(this.code, i); return this; }
  set(i: number): this { this.code.push(0x21); uleb(this.code, i); return this; }
  tee(i: number): this { this.code.push(0x22); uleb(this.code, i); return this; }
  i32(v: number): this { this.code.push(0x41); sleb(this.code, v | 0); return this; }
  i64(v: bigint): this { this.code.push(0x42); sleb(this.code, BigInt.asIntN(64, v)); return this; }
  f32(v: number): this {
    this.code.push(0x43);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    for (const x of b) this.code.push(x);
    return this;
  }
  f64(v: number): this {
    this.code.push(0x44);
    const b = new Uint8Array(new Float64Array([v]).buffer);
    for (const x of b) this.code.push(x);
    return this;
  }
  /** v128.const from four f32 lanes (all equal when one value). */
  f32x4(v: number): this {
    this.code.push(0xfd);
    uleb(this.code, 0x0c);
    const b = new Uint8Array(new Float32Array([v, v, v, v]).buffer);
    for (const x of b) this.code.push(x);
    return this;
  }
  f64x2(v: number): this {
    this.code.push(0xfd);
    uleb(this.code, 0x0c);
    const b = new Uint8Array(new Float64Array([v, v]).buffer);
    for (const x of b) this.code.push(x);
    return this;
  }
  i64x2(v: bigint): this {
    this.code.push(0xfd);
    uleb(this.code, 0x0c);
    const b = new Uint8Array(new BigInt64Array([v, v]).buffer);
    for (const x of b) this.code.push(x);
    return this;
  }
  i32x4(v: number): this {
    this.code.push(0xfd);
    uleb(this.code, 0x0c);
    const b = new Uint8Array(new Int32Array([v, v, v, v]).buffer);
    for (const x of b) this.code.push(x);
    return this;
  }
  shuffle(lanes: number[]): this {
    this.code.push(0xfd);
    uleb(this.code, 0x0d);
    for (const x of lanes) this.code.push(x);
    return this;
  }
  block(): this { this.code.push(0x02, 0x40); this.depth++; return this; }
  loop(): this { this.code.push(0x03, 0x40); this.depth++; return this; }
  if_(): this { this.code.push(0x04, 0x40); this.depth++; return this; }
  br(d: number): this { this.code.push(0x0c); uleb(this.code, d); return this; }
  brIf(d: number): this { this.code.push(0x0d); uleb(this.code, d); return this; }
  call(fi: number): this { this.code.push(0x10); uleb(this.code, fi); return this; }

  private fences = 0;
  /**
   * A scheduling fence: the v128 `locals` are computed before the code that follows. TurboFan keeps memory loads in
   * program order but sinks pure SIMD arithmetic to just before its first use, so an unrolled kernel would issue all
   * its loads first and spill the loaded vectors to the stack. A branch that is never taken (`nonNeg`, an i32 local or
   * parameter that is never negative, below a negative constant) into code storing the locals gives each a use that
   * dominates the code after it. Each fence compares with its own constant: on one shared condition TurboFan threads
   * the known outcome of one branch into the next (extra flags and moves). Costs a compare and a predicted jump.
   */
  fence(nonNeg: number, locals: number[]): this {
    this.get(nonNeg).i32(-1 - (this.fences++ % 64)).$('i32.lt_s').if_().i32(0);
    this.get(locals[0]!);
    for (const l of locals.slice(1)) this.get(l).$('v128.xor');
    return this.$('v128.store').$('end');
  }

  /**
   * `for (i = from; i < to; i += step) body()` with i32 local `i` and `to` local/const given by emitters.
   * Emits: i = from; block; loop; br_if(i >= to) 1; body; i += step; br 0; end; end.
   */
  for_(i: number, from: () => void, to: () => void, step: number, body: () => void): this {
    from();
    this.set(i);
    this.block().loop();
    this.get(i);
    to();
    this.$('i32.ge_s').brIf(1);
    body();
    this.get(i).i32(step).$('i32.add').set(i);
    this.br(0).$('end').$('end');
    return this;
  }

  encode(): number[] {
    if (this.depth !== 0) throw new Error(`emit: unbalanced blocks in ${this.name} (${this.depth})`);
    const out: number[] = [];
    // Run-length encode locals.
    const groups: [number, ValType][] = [];
    for (const t of this.locals) {
      const g = groups[groups.length - 1];
      if (g && g[1] === t) g[0]++;
      else groups.push([1, t]);
    }
    uleb(out, groups.length);
    for (const [n, t] of groups) {
      uleb(out, n);
      out.push(VT[t]);
    }
    out.push(...this.prologue, ...this.code, 0x0b);
    const body: number[] = [];
    uleb(body, out.length);
    return body.concat(out);
  }
}

export class ModuleBuilder {
  private readonly funcs: Func[] = [];
  private readonly exported = new Set<string>();
  constructor(
    private readonly memMin: number,
    private readonly memMax: number,
    private readonly shared: boolean,
  ) {}
  func(name: string, params: ValType[], results: ValType[], exported = true): Func {
    const f = new Func(name, params, results);
    this.funcs.push(f);
    if (exported) this.exported.add(name);
    return f;
  }
  index(name: string): number {
    const i = this.funcs.findIndex((f) => f.name === name);
    if (i < 0) throw new Error(`emit: no function ${name}`);
    return i;
  }
  build(): Uint8Array<ArrayBuffer> {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const section = (id: number, content: number[]) => {
      out.push(id);
      uleb(out, content.length);
      for (const b of content) out.push(b);
    };
    const str = (o: number[], s: string) => {
      const b = new TextEncoder().encode(s);
      uleb(o, b.length);
      o.push(...b);
    };
    // Types (deduplicated).
    const sigs: string[] = [];
    const typeOf = this.funcs.map((f) => {
      const key = f.params.join(',') + '>' + f.results.join(',');
      let i = sigs.indexOf(key);
      if (i < 0) i = sigs.push(key) - 1;
      return i;
    });
    const types: number[] = [];
    uleb(types, sigs.length);
    for (const key of sigs) {
      const [ps, rs] = key.split('>') as [string, string];
      const p = ps ? (ps.split(',') as ValType[]) : [];
      const r = rs ? (rs.split(',') as ValType[]) : [];
      types.push(0x60);
      uleb(types, p.length);
      for (const t of p) types.push(VT[t]);
      uleb(types, r.length);
      for (const t of r) types.push(VT[t]);
    }
    section(1, types);
    // Import env.mem.
    const imp: number[] = [];
    uleb(imp, 1);
    str(imp, 'env');
    str(imp, 'mem');
    imp.push(0x02, this.shared ? 0x03 : 0x01);
    uleb(imp, this.memMin);
    uleb(imp, this.memMax);
    section(2, imp);
    const fs: number[] = [];
    uleb(fs, this.funcs.length);
    for (const t of typeOf) uleb(fs, t);
    section(3, fs);
    const ex: number[] = [];
    const names = this.funcs.map((f, i) => [f.name, i] as const).filter(([n]) => this.exported.has(n));
    uleb(ex, names.length);
    for (const [n, i] of names) {
      str(ex, n);
      ex.push(0x00);
      uleb(ex, i);
    }
    section(7, ex);
    const code: number[] = [];
    uleb(code, this.funcs.length);
    for (const f of this.funcs) for (const b of f.encode()) code.push(b);
    section(10, code);
    // The "name" custom section (function names subsection): profilers and stack traces show `gemvDot_q8_0`
    // instead of `wasm-function[5]`.
    const fnames: number[] = [];
    uleb(fnames, this.funcs.length);
    this.funcs.forEach((f, i) => {
      uleb(fnames, i);
      str(fnames, f.name);
    });
    const nameSec: number[] = [];
    str(nameSec, 'name');
    nameSec.push(1);
    uleb(nameSec, fnames.length);
    for (const b of fnames) nameSec.push(b);
    section(0, nameSec);
    return new Uint8Array(out);
  }
}
