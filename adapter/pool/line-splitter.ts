// Newline-delimited framing of a child's stdout and stderr: complete lines
// out of arbitrary chunks, a bounded carry for a line split across chunks,
// and a report instead of a line when one grows past its limit.

/** Splits a byte stream into lines without copying complete lines twice. */
export class LineSplitter {
  private carry: Buffer[] = [];
  private carryBytes = 0;
  constructor(
    private readonly maxBytes: number,
    private readonly emit: (line: string) => void,
    private readonly overlong: (bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    let nl = chunk.indexOf(10);
    if (this.carryBytes > 0) {
      if (nl < 0) {
        this.carry.push(chunk);
        this.carryBytes += chunk.length;
        if (this.carryBytes > this.maxBytes) {
          this.overlong(this.carryBytes);
          this.carry = [];
          this.carryBytes = 0;
        }
        return;
      }
      this.carry.push(chunk.subarray(0, nl));
      const whole = Buffer.concat(this.carry, this.carryBytes + nl);
      this.carry = [];
      this.carryBytes = 0;
      this.line(whole, 0, whole.length);
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    while (nl >= 0) {
      this.line(chunk, start, nl);
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (rest.length > this.maxBytes) this.overlong(rest.length);
      else {
        this.carry.push(rest);
        this.carryBytes = rest.length;
      }
    }
  }

  private line(buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === 13) end--;
    if (end - start > this.maxBytes) {
      this.overlong(end - start);
      return;
    }
    if (end > start) this.emit(buf.toString('utf8', start, end));
  }
}
