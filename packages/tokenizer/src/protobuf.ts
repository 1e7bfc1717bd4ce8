// A minimal protobuf wire-format reader: just what ModelProto needs. Every read
// is bounds-checked so a truncated or corrupt file throws instead of misreading.

const PROTO_TEXT = new TextDecoder('utf-8', { ignoreBOM: true });

/** Wire types of the protobuf encoding. */
export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

/** Thrown for any malformed protobuf input. */
export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

/** Sequential reader over one protobuf message (or sub-message) in a byte buffer. */
export class ProtoReader {
  pos: number;
  end: number;
  /** Names the message in error texts, with `index` (when >= 0) for repeated ones. */
  what: string;
  index = -1;
  private readonly view: DataView;

  /** Reads `bytes[begin, end)`; `what` names the message in error texts. */
  constructor(
    readonly bytes: Uint8Array,
    begin = 0,
    end = bytes.length,
    what = 'message',
  ) {
    this.pos = begin;
    this.end = end;
    this.what = what;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Points the reader at another sub-message of the same buffer (saves an allocation per piece). */
  reset(begin: number, end: number, index: number): void {
    this.pos = begin;
    this.end = end;
    this.index = index;
  }

  /** True while unread bytes remain. */
  more(): boolean {
    return this.pos < this.end;
  }

  private fail(msg: string): never {
    const name = this.index >= 0 ? `${this.what} #${this.index}` : this.what;
    throw new ProtobufError(`${name}: ${msg} at byte ${this.pos}`);
  }

  /** Reads a tag and returns [fieldNumber, wireType]. */
  tag(): [number, WireType] {
    const t = this.varint32();
    const field = t >>> 3;
    if (field === 0) this.fail('invalid field number 0');
    return [field, (t & 7) as WireType];
  }

  /**
   * Reads a varint and returns its low 32 bits as a signed int32, which is how
   * protobuf stores int32/enum/bool (negative int32 is a 10-byte varint).
   */
  varint32(): number {
    let result = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.bytes[this.pos++]!;
      if (i < 5) result |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return result | 0;
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** Reads an unsigned varint as a JS number (exact up to 2^53). */
  varint64(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.bytes[this.pos++]!;
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return result;
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** Reads a little-endian float32. */
  float32(): number {
    if (this.pos + 4 > this.end) this.fail('truncated fixed32');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Reads a length prefix and returns the [begin, end) byte range it covers. */
  lengthDelimited(): [number, number] {
    const len = this.varint64();
    const begin = this.pos;
    if (len > this.end - begin) this.fail(`length ${len} runs past the end (${this.end - begin} bytes left)`);
    this.pos = begin + len;
    return [begin, this.pos];
  }

  /** Reads a length-delimited field as a UTF-8 string. */
  string(): string {
    const [b, e] = this.lengthDelimited();
    return PROTO_TEXT.decode(this.bytes.subarray(b, e));
  }

  /** Reads a length-delimited field as a byte view (no copy). */
  bytesField(): Uint8Array {
    const [b, e] = this.lengthDelimited();
    return this.bytes.subarray(b, e);
  }

  /** Skips a field of the given wire type (unknown fields are legal in protobuf). */
  skip(wire: WireType): void {
    switch (wire) {
      case WireType.Varint:
        this.varint64();
        return;
      case WireType.Fixed64:
        if (this.pos + 8 > this.end) this.fail('truncated fixed64');
        this.pos += 8;
        return;
      case WireType.LengthDelimited:
        this.lengthDelimited();
        return;
      case WireType.Fixed32:
        if (this.pos + 4 > this.end) this.fail('truncated fixed32');
        this.pos += 4;
        return;
      default:
        // Groups are deprecated and never written by sentencepiece.
        this.fail(`unsupported wire type ${wire}`);
    }
  }

  /** Asserts the wire type of a known field. */
  expect(field: number, wire: WireType, want: WireType): void {
    if (wire !== want) this.fail(`field ${field} has wire type ${wire}, expected ${want}`);
  }
}
