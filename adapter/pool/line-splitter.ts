// Newline-delimited framing of a child's stdout and stderr: complete lines
// out of arbitrary chunks, a bounded carry for a line split across chunks,
// and a report instead of a line when one grows past its limit. An overlong
// line is skipped to its end without being kept (only its first and last
// bytes, so that its owner can be told), and framing goes on after it.

/** Bytes kept of each end of an overlong line. */
export const OVERLONG_EDGE_BYTES = 256;

export interface LargeLines {
  /** Lines of at least this many bytes go to `emit` as bytes, not decoded. */
  readonly threshold: number;
  emit(line: Buffer): void;
}

/** Splits a byte stream into lines without copying complete lines twice. */
export class LineSplitter {
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private skipping = false;
  private skipped = 0;
  private head: Buffer = Buffer.alloc(0);
  private tail: Buffer = Buffer.alloc(0);

  constructor(
    private readonly maxBytes: number,
    private readonly emit: (line: string) => void,
    private readonly overlong: (bytes: number, head: Buffer, tail: Buffer) => void,
    private readonly large?: LargeLines,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl < 0 ? chunk.length : nl;
      if (this.skipping) {
        this.skipped += end - start;
        this.keepTail(chunk.subarray(start, end));
        if (nl < 0) return;
        this.endSkip();
        start = nl + 1;
        continue;
      }
      if (nl < 0) {
        const rest = chunk.subarray(start);
        // One byte of slack for a CR before the newline.
        if (this.carryBytes + rest.length > this.maxBytes + 1) this.beginSkip(rest);
        else {
          this.carry.push(rest);
          this.carryBytes += rest.length;
        }
        return;
      }
      if (this.carryBytes > 0) {
        const piece = chunk.subarray(start, nl);
        if (this.carryBytes + piece.length > this.maxBytes + 1) {
          this.beginSkip(piece);
          this.endSkip();
        } else {
          this.carry.push(piece);
          const whole = Buffer.concat(this.carry, this.carryBytes + piece.length);
          this.carry = [];
          this.carryBytes = 0;
          this.line(whole, 0, whole.length);
        }
      } else this.line(chunk, start, nl);
      start = nl + 1;
    }
  }

  private beginSkip(last: Buffer): void {
    const parts = [...this.carry, last];
    const all = this.carryBytes + last.length;
    const first = Buffer.concat(parts, Math.min(all, OVERLONG_EDGE_BYTES * 4)).subarray(0, OVERLONG_EDGE_BYTES);
    this.head = Buffer.from(first);
    this.tail = Buffer.alloc(0);
    for (const p of parts.slice(-2)) this.keepTail(p);
    this.skipped = all;
    this.carry = [];
    this.carryBytes = 0;
    this.skipping = true;
  }

  private keepTail(piece: Buffer): void {
    if (piece.length >= OVERLONG_EDGE_BYTES) this.tail = Buffer.from(piece.subarray(piece.length - OVERLONG_EDGE_BYTES));
    else {
      const both = Buffer.concat([this.tail, piece]);
      this.tail = both.length > OVERLONG_EDGE_BYTES ? both.subarray(both.length - OVERLONG_EDGE_BYTES) : both;
    }
  }

  private endSkip(): void {
    this.skipping = false;
    let tail = this.tail;
    if (tail.length > 0 && tail[tail.length - 1] === 13) tail = tail.subarray(0, tail.length - 1);
    const bytes = this.skipped;
    this.skipped = 0;
    this.overlong(bytes, this.head, tail);
  }

  private line(buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === 13) end--;
    const size = end - start;
    if (size > this.maxBytes) {
      this.overlong(size, buf.subarray(start, start + OVERLONG_EDGE_BYTES), buf.subarray(Math.max(start, end - OVERLONG_EDGE_BYTES), end));
      return;
    }
    if (size === 0) return;
    if (this.large !== undefined && size >= this.large.threshold) this.large.emit(buf.subarray(start, end));
    else this.emit(buf.toString('utf8', start, end));
  }
}
