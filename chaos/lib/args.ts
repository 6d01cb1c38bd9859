/** What `npm run chaos -- ...` asked for. */
export interface Args {
  /** `--list`: name the scenarios and exit. */
  list: boolean;
  /** `--help` */
  help: boolean;
  /** Scenario numbers to run, in the order given; empty means all. */
  ids: number[];
  /** `--out DIR`: where the report goes. @default 'chaos-report' */
  out: string;
}

export const USAGE = `usage: npm run chaos [-- [N ...] [--list] [--out DIR]]
  (no arguments)  run all scenarios
  N ...           run scenarios N (1..COUNT), e.g. "npm run chaos -- 3" or "-- 1 6 9"
  --list          name the scenarios and what each expects, run none
  --out DIR       write the report into DIR (default chaos-report)
  --help          this text`;

/** Parses the command line (without `node` and the script); throws a RangeError on a bad argument. */
export function parseArgs(argv: readonly string[], known: readonly number[]): Args {
  const count = Math.max(0, ...known);
  const exists = (id: number) => known.includes(id);
  const args: Args = { list: false, help: false, ids: [], out: 'chaos-report' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--list' || arg === '-l') args.list = true;
    else if (arg === '--help' || arg === '-h') args.help = true;
    else if (arg === '--out' || arg.startsWith('--out=')) {
      const value = arg === '--out' ? argv[++i] : arg.slice('--out='.length);
      if (value === undefined || value === '' || value.startsWith('-')) {
        throw new RangeError('--out needs a directory');
      }
      args.out = value;
    } else if (/^\d+$/.test(arg)) {
      const id = Number(arg);
      if (!exists(id)) throw new RangeError(`no scenario ${arg}: scenarios are numbered 1 to ${count}`);
      if (!args.ids.includes(id)) args.ids.push(id);
    } else if (/^\d+-\d+$/.test(arg)) {
      const [from, to] = arg.split('-').map(Number) as [number, number];
      if (from > to || !exists(from) || !exists(to))
        throw new RangeError(`bad range ${arg}: scenarios are 1 to ${count}`);
      for (let id = from; id <= to; id++) if (exists(id) && !args.ids.includes(id)) args.ids.push(id);
    } else {
      throw new RangeError(
        `unknown argument ${JSON.stringify(arg)}\n${USAGE.replace('COUNT', String(count))}`,
      );
    }
  }
  return args;
}
