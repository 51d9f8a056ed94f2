/**
 * A Linux bridge of the testbed's own for a private dockerd (`dockerd --bridge=<name>`), so lane
 * containers get Docker's default `bridge` network as on a real host without the testbed touching
 * anything of the host's: its own name (`lptb` and 8 hex digits), its own /24 in 10.200.0.0/13
 * that no route of this machine uses, no iptables rules, no forwarding (the dockerd runs with
 * `--iptables=false --ip-forward=false`). A container reaches the host at the bridge's gateway
 * address, and nothing beyond. Needs `ip` (iproute2).
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';

import { findBinary } from './find-binary.js';
import { TestbedUnavailableError } from './testbed-unavailable.js';

const run = promisify(execFile);

/** A testbed bridge. */
export interface TestbedBridge {
  /** Interface name, e.g. `lptb1a2b3c4d`. */
  name: string;
  /** The host's address on it: a container reaches the host there. */
  gateway: string;
  /** `10.x.y.0/24`. */
  subnet: string;
}

/** Makes a bridge (see the module comment). */
export async function createBridge(): Promise<TestbedBridge> {
  const ip = await findBinary('ip');
  if (ip === undefined) throw new TestbedUnavailableError('Docker bridge needs ip (iproute2)');
  const routes = (await run(ip, ['-4', 'route', 'show', 'table', 'all'])).stdout;
  const addrs = (await run(ip, ['-4', '-o', 'addr', 'show'])).stdout;
  const name = `lptb${randomBytes(4).toString('hex')}`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const prefix = `10.${200 + randomInt(8)}.${randomInt(256)}.`;
    if (routes.includes(prefix) || addrs.includes(prefix)) continue;
    const gateway = `${prefix}1`;
    try {
      await run(ip, ['link', 'add', 'name', name, 'type', 'bridge']);
      await run(ip, ['addr', 'add', `${gateway}/24`, 'dev', name]);
      await run(ip, ['link', 'set', name, 'up']);
    } catch (error) {
      await deleteBridge(name);
      throw new TestbedUnavailableError(
        `cannot make a Docker bridge: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    return { name, gateway, subnet: `${prefix}0/24` };
  }
  throw new TestbedUnavailableError('found no free 10.200.0.0/13 subnet for a Docker bridge');
}

/** Deletes a testbed bridge (only names the testbed makes; missing is fine). */
export async function deleteBridge(name: string): Promise<void> {
  if (!/^lptb[0-9a-f]{8}$/.test(name)) return;
  await run('ip', ['link', 'del', name]).catch(() => undefined);
}
