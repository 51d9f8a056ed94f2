/**
 * Signs commands the way a coordinator does, for suites that drive an agent core directly: the
 * unit harness on fakes and the integration fixture on real systemd and Docker.
 */
import { randomUUID, type KeyObject } from 'node:crypto';

import { nowSec, signCommand, type Clock } from '@launchplane/shared';
import type { Command, CommandPayload } from '@launchplane/shared';

/** The issuer and audience of every command a {@link testCommandSigner} signs. */
export const TEST_COORDINATOR_ID = 'coord-test';
export const TEST_HOST_ID = 'host-a';

/** Options of {@link testCommandSigner}. */
export interface TestCommandSignerOptions {
  /** The coordinator's signing key (the agent pins its public half). */
  privateKey: KeyObject;
  /** Gives `iat`; `exp` is 120 s later. */
  clock: Pick<Clock, 'nowMs'>;
  /** The last `seq` the agent has accepted; the first command carries the next one. Default 0. */
  lastSeq?: number;
  /**
   * Also keep `seq` at or above the clock's milliseconds, so that a signer made later (a new
   * fixture on the same ledger) still signs above every earlier one. Default false.
   */
  seqFromClock?: boolean;
}

/** Signs `cmd` with the next `seq`; `overrides` replace any payload field. */
export type SignTestCommand = (cmd: Command, overrides?: Partial<CommandPayload>) => string;

/** A signer of commands from `coord-test` to `host-a`. */
export function testCommandSigner(options: TestCommandSignerOptions): SignTestCommand {
  const { privateKey, clock } = options;
  let seq = options.lastSeq ?? 0;
  return (cmd, overrides = {}) => {
    const iat = nowSec(clock);
    seq = options.seqFromClock === true ? Math.max(seq + 1, clock.nowMs()) : seq + 1;
    return signCommand(
      {
        iss: TEST_COORDINATOR_ID,
        aud: TEST_HOST_ID,
        iat,
        exp: iat + 120,
        jti: randomUUID(),
        seq,
        cmd,
        ...overrides,
      },
      { privateKey },
    );
  };
}
