// Files of the session stores that only this user may read (sessions and
// events say what a client reads): directories made 0700, files written 0600
// and whole, a temporary file renamed into place, so a reader on the same
// host never sees half a file.
import { mkdir, open, rename, unlink } from 'node:fs/promises';

/** Makes `dir` (and its parents) once, 0700; a failure is tried again on the next call. */
export class PrivateDirectory {
  private ready: Promise<void> | undefined;

  constructor(readonly dir: string) {}

  ensure(): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(
      () => undefined,
      (err: unknown) => {
        this.ready = undefined;
        throw err;
      },
    );
    return this.ready;
  }
}

export interface PrivateWrite {
  /** The temporary file, in the same directory as `path`; made exclusively (it must not exist). */
  readonly tmp: string;
  readonly path: string;
  readonly data: string;
  /** Set as the file's atime and mtime before it is renamed into place. */
  readonly times?: Date;
}

/** Writes `data` to `path` whole or not at all; a failed write removes its temporary file. */
export async function writePrivateFile(w: PrivateWrite): Promise<void> {
  const fh = await open(w.tmp, 'wx', 0o600);
  try {
    await fh.writeFile(w.data);
    if (w.times !== undefined) await fh.utimes(w.times, w.times);
  } catch (err) {
    await fh.close();
    await unlink(w.tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await rename(w.tmp, w.path);
}
