/** One sample line of the Prometheus text exposition format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One metric family: its `# TYPE` and `# HELP`, and its samples. */
export interface Family {
  readonly type: string;
  readonly help: string;
  readonly samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y;

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const match = LABEL.exec(text);
    if (match === null) throw new Error(`unparseable labels in ${JSON.stringify(line)}`);
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  const value = Number(text);
  if (Number.isNaN(value) && text !== 'NaN') throw new Error(`not a sample value: ${text}`);
  return value;
}

/**
 * Parses the text a prom-client registry serves (`await registry.metrics()`), strictly:
 * every line must be a comment, blank, or a sample of a family declared by `# TYPE`.
 */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment) {
      const [, what, name, rest] = comment as unknown as [string, string, string, string];
      if (what === 'HELP') help.set(name, rest);
      else families.set(name, { type: rest, help: help.get(name) ?? '', samples: [] });
      continue;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`unparseable exposition line: ${JSON.stringify(line)}`);
    const name = match[1]!;
    const family = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, '')) ?? undefined;
    if (family === undefined) throw new Error(`sample of an undeclared family: ${JSON.stringify(line)}`);
    family.samples.push({ name, labels: parseLabels(match[2] ?? '', line), value: parseValue(match[3]!) });
  }
  return families;
}

/** A parsed exposition, read by sample name and exact label set. */
export class Scrape {
  readonly families: Map<string, Family>;

  constructor(readonly text: string) {
    this.families = parseExposition(text);
  }

  /** Every sample called `name` (a histogram's `_bucket`, `_sum`, `_count` included). */
  samples(name: string): Sample[] {
    const family = this.families.get(name) ?? this.families.get(name.replace(/_(bucket|sum|count)$/, ''));
    return (family?.samples ?? []).filter((s) => s.name === name);
  }

  /** The value of the sample with exactly these labels, or undefined when there is none. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const keys = Object.keys(labels);
    const found = this.samples(name).filter(
      (s) => Object.keys(s.labels).length === keys.length && keys.every((k) => s.labels[k] === labels[k]),
    );
    if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
    return found[0]?.value;
  }

  /** `{ labelValue: value }` over the samples of `name` whose labels include `where`, keyed by label `by`. */
  by(name: string, by: string, where: Record<string, string> = {}): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.samples(name)) {
      if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) out[s.labels[by]!] = s.value;
    }
    return out;
  }

  /** The type a `# TYPE` line declares for `name`. */
  type(name: string): string | undefined {
    return this.families.get(name)?.type;
  }
}
