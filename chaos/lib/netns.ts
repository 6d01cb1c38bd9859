import { execFileSync, spawnSync } from 'node:child_process';

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function run(args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: 'pipe', timeout: 10_000 });
}

/** Why a real partition (network namespace + veth + a DROP rule) cannot be made here, or undefined. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: network namespaces need root';
  if (!has('ip')) return 'no ip command (iproute2)';
  if (!has('nft') && !has('iptables')) return 'neither nft nor iptables is installed';
  return undefined;
}

/**
 * A network namespace of the suite's own, joined to the host by a veth pair on a /30 of
 * its own: a server started inside it is reached at `inside`, and `partition()` drops every
 * packet from the host inside the namespace (nft, else iptables): a silent partition.
 */
export class Namespace {
  readonly firewall: 'nft' | 'iptables';
  private partitioned = false;

  private constructor(
    readonly name: string,
    readonly hostSide: string,
    readonly outside: string,
    readonly inside: string,
  ) {
    this.firewall = has('nft') ? 'nft' : 'iptables';
  }

  static create(): Namespace {
    const tag = `${process.pid % 100_000}`;
    // A /30 chosen from the pid, in 10.213.0.0/16: used only between the host and this namespace.
    const third = process.pid % 250;
    const ns = new Namespace(`bwchaos${tag}`, `bwc${tag}h`, `10.213.${third}.1`, `10.213.${third}.2`);
    const peer = `bwc${tag}n`;
    try {
      run(['ip', 'netns', 'add', ns.name]);
      run(['ip', 'link', 'add', ns.hostSide, 'type', 'veth', 'peer', 'name', peer]);
      run(['ip', 'link', 'set', peer, 'netns', ns.name]);
      run(['ip', 'addr', 'add', `${ns.outside}/30`, 'dev', ns.hostSide]);
      run(['ip', 'link', 'set', ns.hostSide, 'up']);
      run(['ip', 'netns', 'exec', ns.name, 'ip', 'addr', 'add', `${ns.inside}/30`, 'dev', peer]);
      run(['ip', 'netns', 'exec', ns.name, 'ip', 'link', 'set', peer, 'up']);
      run(['ip', 'netns', 'exec', ns.name, 'ip', 'link', 'set', 'lo', 'up']);
    } catch (error) {
      ns.destroy();
      throw error;
    }
    return ns;
  }

  /** Drops every packet from the host inside the namespace: connections hang, nothing is refused. */
  partition(): void {
    if (this.partitioned) return;
    const exec = ['ip', 'netns', 'exec', this.name];
    if (this.firewall === 'nft') {
      run([...exec, 'nft', 'add', 'table', 'inet', 'bwchaos']);
      run([
        ...exec,
        'nft',
        'add',
        'chain',
        'inet',
        'bwchaos',
        'input',
        '{ type filter hook input priority 0 ; policy accept ; }',
      ]);
      run([...exec, 'nft', 'add', 'rule', 'inet', 'bwchaos', 'input', 'ip', 'saddr', this.outside, 'drop']);
    } else {
      run([...exec, 'iptables', '-A', 'INPUT', '-s', this.outside, '-j', 'DROP']);
    }
    this.partitioned = true;
  }

  heal(): void {
    if (!this.partitioned) return;
    const exec = ['ip', 'netns', 'exec', this.name];
    if (this.firewall === 'nft') run([...exec, 'nft', 'delete', 'table', 'inet', 'bwchaos']);
    else run([...exec, 'iptables', '-D', 'INPUT', '-s', this.outside, '-j', 'DROP']);
    this.partitioned = false;
  }

  /** Deletes the namespace (its end of the veth pair goes with it, and so does the host's). */
  destroy(): void {
    spawnSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', this.hostSide], { stdio: 'ignore' });
  }
}
