import { randomBytes } from 'node:crypto';
import type { Scope } from './scope.js';
import type { RunnerRecord } from './sim-state.js';

/** The local configuration files of a configured runner, by content. */
export interface RunnerFiles {
  /** `.runner`: settings (id, name, URLs, work folder, ephemeral, disableUpdate). */
  runner: Record<string, unknown>;
  /** `.credentials`: the OAuth client credential the runner authenticates with. */
  credentials: Record<string, unknown>;
  /** `.credentials_rsaparams`: the runner's RSA key parameters (random filler of that shape here). */
  rsaParams: Record<string, unknown>;
}

/**
 * The `.runner`, `.credentials` and `.credentials_rsaparams` contents a configured runner keeps,
 * in the shapes actions/runner writes them (`RunnerSettings`, `CredentialData`,
 * `RSAParametersSerializable`). The stub never uses the RSA parameters: they are random bytes.
 */
export function runnerFiles(opts: {
  origin: string;
  scope: Scope;
  runner: RunnerRecord;
  workFolder: string;
  secret: string;
  disableUpdate?: boolean;
}): RunnerFiles {
  const path =
    opts.scope.kind === 'repo' ? `${opts.scope.owner}/${opts.scope.repo}` : opts.scope.org;
  const b64 = (n: number): string => randomBytes(n).toString('base64');
  return {
    runner: {
      agentId: opts.runner.id,
      agentName: opts.runner.name,
      poolId: opts.runner.runnerGroupId,
      poolName: 'Default',
      serverUrl: opts.origin,
      gitHubUrl: `${opts.origin}/${path}`,
      workFolder: opts.workFolder,
      ephemeral: opts.runner.ephemeral,
      ...(opts.disableUpdate === true ? { disableUpdate: true } : {}),
    },
    credentials: {
      scheme: 'OAuth',
      data: { clientId: String(opts.runner.id), secret: opts.secret },
    },
    rsaParams: {
      d: b64(256),
      dp: b64(128),
      dq: b64(128),
      exponent: 'AQAB',
      inverseQ: b64(128),
      modulus: b64(256),
      p: b64(128),
      q: b64(128),
    },
  };
}

/**
 * `encoded_jit_config` as GitHub hands it out and `run.sh --jitconfig` takes it: base64 of a JSON
 * object from file name to the base64 of that file's content.
 */
export function encodeJitConfig(files: RunnerFiles): string {
  const file = (o: Record<string, unknown>): string =>
    Buffer.from(JSON.stringify(o)).toString('base64');
  return Buffer.from(
    JSON.stringify({
      '.runner': file(files.runner),
      '.credentials': file(files.credentials),
      '.credentials_rsaparams': file(files.rsaParams),
    }),
  ).toString('base64');
}
