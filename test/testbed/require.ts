/**
 * How test files reach the parts started by `test/setup/global.ts`: a part that is missing skips
 * the test with the reason printed, except under `CI=true`, where it fails, so CI can never
 * silently lose a suite.
 */
import { describe, inject, it } from 'vitest';

import type { DockerTestbed } from './dockerd.js';
import type { SystemdTestbed } from './systemd-user-manager.js';

/** One part of the testbed: running, or why not. */
export type TestbedPart<T> = { available: true; info: T } | { available: false; reason: string };

/** What the global setup provides under the `launchplaneTestbed` key. */
export interface TestbedInfo {
  systemd: TestbedPart<SystemdTestbed>;
  docker: TestbedPart<DockerTestbed>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    launchplaneTestbed: TestbedInfo;
  }
}

type PartName = keyof TestbedInfo;
type PartInfo<K extends PartName> = TestbedInfo[K] extends TestbedPart<infer T> ? T : never;

const NOT_SET_UP =
  'the testbed global setup did not run (add "./test/setup/global.ts" to globalSetup)';

/** The provided state of one part, also when the global setup is missing. */
export function testbedPart<K extends PartName>(name: K): TestbedPart<PartInfo<K>> {
  // inject() returns undefined when no global setup provided the key.
  const info = inject('launchplaneTestbed') as TestbedInfo | undefined;
  const part = info?.[name] as TestbedPart<PartInfo<K>> | undefined;
  return part ?? { available: false, reason: NOT_SET_UP };
}

function isCi(): boolean {
  return process.env['CI'] === 'true' || process.env['CI'] === '1';
}

function requirePart<K extends PartName>(
  name: K,
  ctx: { skip(note?: string): never },
): PartInfo<K> {
  const part = testbedPart(name);
  if (part.available) return part.info;
  const reason = `${name} unavailable: ${part.reason}`;
  if (isCi()) throw new Error(`${reason} (CI=true: a test that needs ${name} must not be skipped)`);
  process.stderr.write(`[testbed] skipping: ${reason}\n`);
  return ctx.skip(reason);
}

/** The systemd user manager, or skips the test (fails it under CI=true). Pass the test context. */
export function requireSystemd(ctx: { skip(note?: string): never }): SystemdTestbed {
  return requirePart('systemd', ctx);
}

/** The private dockerd, or skips the test (fails it under CI=true). Pass the test context. */
export function requireDocker(ctx: { skip(note?: string): never }): DockerTestbed {
  return requirePart('docker', ctx);
}

function describeWith<K extends PartName>(
  part: K,
  title: string,
  body: (info: () => PartInfo<K>) => void,
): void {
  const state = testbedPart(part);
  if (state.available) {
    describe(title, () => body(() => state.info));
    return;
  }
  const reason = `${part} unavailable: ${state.reason}`;
  if (isCi()) {
    describe(title, () => {
      it(`needs ${part}`, () => {
        throw new Error(`${reason} (CI=true: a test that needs ${part} must not be skipped)`);
      });
    });
    return;
  }
  process.stderr.write(`[testbed] skipping "${title}": ${reason}\n`);
  describe.skip(`${title} (skipped: ${reason})`, () =>
    body(() => {
      throw new Error(reason);
    }));
}

/**
 * A suite that needs the systemd user manager: `body` gets an accessor for its info (call it in
 * hooks or tests). Missing manager: the suite is skipped with the reason printed, or under CI=true
 * replaced by a failing test.
 */
export function describeWithSystemd(
  title: string,
  body: (systemd: () => SystemdTestbed) => void,
): void {
  describeWith('systemd', title, body);
}

/** Like {@link describeWithSystemd}, for the private dockerd. */
export function describeWithDocker(
  title: string,
  body: (docker: () => DockerTestbed) => void,
): void {
  describeWith('docker', title, body);
}
