import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A small filesystem of the suite's own to fill up: a tmpfs, or, where tmpfs cannot be
 * mounted, a loop-mounted ext4 image. Throws with the reasons when neither can be mounted.
 */
export class SmallDisk {
  private constructor(
    readonly path: string,
    readonly kind: 'tmpfs' | 'loop image',
    private readonly image: string | undefined,
  ) {}

  static mount(parent: string, sizeMb: number): SmallDisk {
    if (process.getuid?.() !== 0) throw new Error('not root: mounting a small filesystem needs root');
    const path = join(parent, 'small-disk');
    mkdirSync(path, { recursive: true });
    const tmpfs = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0755`, 'tmpfs', path], {
      encoding: 'utf8',
    });
    if (tmpfs.status === 0) return new SmallDisk(path, 'tmpfs', undefined);
    const image = join(parent, 'small-disk.img');
    try {
      execFileSync('truncate', ['-s', `${sizeMb}M`, image]);
      execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'pipe' });
      execFileSync('mount', ['-o', 'loop', image, path], { stdio: 'pipe' });
      return new SmallDisk(path, 'loop image', image);
    } catch (error) {
      rmSync(image, { force: true });
      throw new Error(
        `cannot mount a small filesystem: tmpfs (${tmpfs.stderr.trim() || `exit ${tmpfs.status}`}), loop image (${(error as Error).message.split('\n')[0]})`,
      );
    }
  }

  /** Bytes still free. */
  free(): number {
    const s = statfsSync(this.path);
    return s.bavail * s.bsize;
  }

  /** Writes a ballast file until the filesystem is full (ENOSPC); returns the bytes written. */
  async fill(): Promise<number> {
    const handle = await open(join(this.path, 'ballast'), 'a');
    const chunk = Buffer.alloc(8 << 20);
    let written = 0;
    try {
      for (;;) {
        // Big chunks first, then small ones to take the last free bytes.
        const size = Math.min(chunk.length, Math.max(4096, this.free()));
        const { bytesWritten } = await handle.write(chunk, 0, size);
        written += bytesWritten;
        if (bytesWritten < size) break;
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    } finally {
      await handle.close();
    }
    return written;
  }

  /** Frees the space the ballast took. */
  release(): void {
    rmSync(join(this.path, 'ballast'), { force: true });
  }

  unmount(): void {
    spawnSync('umount', ['-l', this.path], { stdio: 'ignore' });
    if (this.image) rmSync(this.image, { force: true });
    rmSync(this.path, { recursive: true, force: true });
  }
}
