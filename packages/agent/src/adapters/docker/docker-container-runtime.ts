import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import * as tar from 'tar-stream';
import type { ContainerCreateOptions } from 'dockerode';
import {
  HOST_ID_PATTERN,
  LaunchplaneError,
  containerLabels,
  containerName,
  redactText,
} from '@launchplane/shared';

import type {
  ContainerInfo,
  ContainerProcess,
  ContainerRuntime,
  ContainerSpec,
  ContainerSummary,
} from '../../ports/container-runtime.js';
import { assertContainerName, assertLaneContainerName, looksLikeLane } from './container-name.js';

/** Options of {@link DockerContainerRuntime}. */
export interface DockerContainerRuntimeOptions {
  /** Unix socket of the Docker daemon. Default `/var/run/docker.sock`. */
  socketPath?: string;
  /** Default `StopTimeout` of created containers, in seconds. Default 300: a runner needs time to finish. */
  stopTimeoutSec?: number;
}

const RECOVERY_UNAVAILABLE = 'Is dockerd running? Check `systemctl status docker`';
// Socket-level failures: the daemon is not there (or not ours to talk to).
const UNREACHABLE_CODES = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EACCES',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface DockerodeError {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  message?: string;
}

/**
 * {@link ContainerRuntime} over the Docker Engine API (dockerode). Lane containers are named
 * `launchplane-lane-<laneId>`, carry the lane and host labels, run with restart policy `no` (the
 * agent's health loop owns restarts) and, by default, on the host network.
 */
export class DockerContainerRuntime implements ContainerRuntime {
  readonly #docker: Docker;
  readonly #stopTimeoutSec: number;

  constructor(options: DockerContainerRuntimeOptions = {}) {
    this.#docker = new Docker({ socketPath: options.socketPath ?? '/var/run/docker.sock' });
    this.#stopTimeoutSec = options.stopTimeoutSec ?? 300;
  }

  /** {@inheritDoc ContainerRuntime.ping} */
  async ping(): Promise<void> {
    try {
      await this.#docker.ping();
    } catch (error) {
      throw new LaunchplaneError(
        'LP_BACKEND_UNAVAILABLE',
        `Cannot reach the Docker daemon: ${describe(error)}`,
        {
          recovery: RECOVERY_UNAVAILABLE,
          cause: error,
        },
      );
    }
  }

  /** {@inheritDoc ContainerRuntime.create} */
  async create(spec: ContainerSpec): Promise<string> {
    const name = containerName(spec.laneId); // throws LP_INVALID_MESSAGE on a non-canonical lane id
    if (!HOST_ID_PATTERN.test(spec.hostId)) {
      throw new LaunchplaneError(
        'LP_INVALID_MESSAGE',
        `Cannot create container "${name}": invalid host id ${JSON.stringify(spec.hostId)}`,
      );
    }
    const env = Object.entries(spec.env ?? {});
    for (const [key, value] of env) {
      if (!ENV_NAME.test(key) || value.includes('\0')) {
        // The name is safe to show; the value never is.
        throw new LaunchplaneError(
          'LP_INVALID_MESSAGE',
          `Cannot create container "${name}": invalid environment entry "${key.slice(0, 64)}"`,
        );
      }
    }
    const options: ContainerCreateOptions = {
      name,
      Image: spec.image,
      Labels: { ...spec.labels, ...containerLabels(spec.hostId, spec.laneId) },
      Env: env.map(([key, value]) => `${key}=${value}`),
      StopTimeout: spec.stopTimeoutSec ?? this.#stopTimeoutSec,
      HostConfig: {
        NetworkMode: spec.networkMode ?? 'host',
        RestartPolicy: { Name: 'no' },
        Init: spec.init ?? true,
        Mounts: (spec.mounts ?? []).map((m) => ({
          Type: 'bind' as const,
          Source: m.source,
          Target: m.target,
          ReadOnly: m.readOnly ?? false,
        })),
        ...(spec.resources?.memoryBytes === undefined
          ? {}
          : { Memory: spec.resources.memoryBytes }),
        ...(spec.resources?.nanoCpus === undefined ? {} : { NanoCpus: spec.resources.nanoCpus }),
        ...(spec.resources?.pidsLimit === undefined ? {} : { PidsLimit: spec.resources.pidsLimit }),
      },
      ...(spec.cmd === undefined ? {} : { Cmd: [...spec.cmd] }),
      ...(spec.entrypoint === undefined ? {} : { Entrypoint: [...spec.entrypoint] }),
      ...(spec.workingDir === undefined ? {} : { WorkingDir: spec.workingDir }),
      ...(spec.user === undefined ? {} : { User: spec.user }),
    };
    try {
      await this.#docker.createContainer(options);
    } catch (error) {
      const secrets = env.map(([, value]) => value);
      throw this.#failure(`create container "${name}"`, error, {
        details: { container: name, image: spec.image },
        secrets,
        ...(statusOf(error) === 404
          ? { recovery: `Pull or build image "${spec.image}" on this host` }
          : {}),
        ...(statusOf(error) === 409
          ? { recovery: `A container named "${name}" already exists; inspect or remove it first` }
          : {}),
      });
    }
    return name;
  }

  /** {@inheritDoc ContainerRuntime.start} */
  async start(name: string): Promise<void> {
    assertLaneContainerName(name);
    try {
      await this.#docker.getContainer(name).start();
    } catch (error) {
      if (statusOf(error) === 304) return; // already running
      throw this.#failure(`start container "${name}"`, error, { details: { container: name } });
    }
  }

  /** {@inheritDoc ContainerRuntime.stop} */
  async stop(name: string, options: { timeoutSec?: number } = {}): Promise<void> {
    assertLaneContainerName(name);
    try {
      await this.#docker
        .getContainer(name)
        .stop(options.timeoutSec === undefined ? {} : { t: options.timeoutSec });
    } catch (error) {
      const status = statusOf(error);
      if (status === 304 || status === 404) return; // already stopped, or gone
      throw this.#failure(`stop container "${name}"`, error, { details: { container: name } });
    }
  }

  /** {@inheritDoc ContainerRuntime.remove} */
  async remove(name: string, options: { force?: boolean } = {}): Promise<void> {
    assertLaneContainerName(name);
    try {
      await this.#docker.getContainer(name).remove({ force: options.force ?? false, v: true });
    } catch (error) {
      if (statusOf(error) === 404) return;
      throw this.#failure(`remove container "${name}"`, error, {
        details: { container: name },
        ...(statusOf(error) === 409
          ? { recovery: 'Stop the container first, or remove it with force' }
          : {}),
      });
    }
  }

  /** {@inheritDoc ContainerRuntime.inspect} */
  async inspect(name: string): Promise<ContainerInfo | undefined> {
    assertContainerName(name);
    try {
      const info = await this.#docker.getContainer(name).inspect();
      return {
        id: info.Id,
        name: info.Name.replace(/^\//, ''),
        labels: { ...info.Config.Labels },
        state: {
          status: info.State.Status,
          running: info.State.Running,
          exitCode: info.State.ExitCode,
          startedAt: info.State.StartedAt,
          finishedAt: info.State.FinishedAt,
          oomKilled: info.State.OOMKilled,
          restartCount: info.RestartCount,
        },
        image: info.Config.Image,
        user: info.Config.User ?? '',
      };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.#failure(`inspect container "${name}"`, error, { details: { container: name } });
    }
  }

  /** {@inheritDoc ContainerRuntime.list} */
  async list(): Promise<ContainerSummary[]> {
    try {
      const containers = await this.#docker.listContainers({ all: true });
      const lanes: ContainerSummary[] = [];
      for (const c of containers) {
        const labels = { ...c.Labels };
        const name = (
          c.Names.find((n) => n.startsWith('/launchplane-lane-')) ??
          c.Names[0] ??
          ''
        ).replace(/^\//, '');
        if (!looksLikeLane(name, labels)) continue;
        lanes.push({ id: c.Id, name, labels, status: c.State, image: c.Image });
      }
      return lanes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (error) {
      throw this.#failure('list lane containers', error);
    }
  }

  /** {@inheritDoc ContainerRuntime.processes} */
  async processes(name: string): Promise<ContainerProcess[]> {
    assertContainerName(name);
    let top: { Titles?: string[]; Processes?: string[][] };
    try {
      // Docker runs ps on the host, so this works in images without ps. Columns are fixed here:
      // pid, comm, then args (the last column keeps its spaces).
      top = (await this.#docker
        .getContainer(name)
        .top({ ps_args: '-eo pid,comm,args' })) as typeof top;
    } catch (error) {
      const status = statusOf(error);
      if (status === 409 || status === 404) return []; // not running, or gone
      throw this.#failure(`list processes of container "${name}"`, error, {
        details: { container: name },
      });
    }
    return (top.Processes ?? []).flatMap(([pid, comm, ...args]) => {
      const n = Number(pid);
      return Number.isSafeInteger(n) && n > 0 && comm !== undefined
        ? [{ pid: n, comm, args: args.join(' ') }]
        : [];
    });
  }

  /** {@inheritDoc ContainerRuntime.readFile} */
  async readFile(name: string, path: string, maxBytes: number): Promise<string | undefined> {
    assertLaneContainerName(name);
    let archive: NodeJS.ReadableStream;
    try {
      archive = await this.#docker.getContainer(name).getArchive({ path });
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.#failure(`read "${path}" in container "${name}"`, error, {
        details: { container: name, path },
      });
    }
    // The archive of one path: its first entry is the path itself (a link stays a link).
    const extract = tar.extract();
    const entries = (archive as Readable).pipe(extract);
    for await (const entry of entries) {
      if (entry.header.type !== 'file') {
        entry.resume();
        (archive as Readable).destroy();
        return undefined;
      }
      if ((entry.header.size ?? 0) > maxBytes) {
        (archive as Readable).destroy();
        throw new LaunchplaneError(
          'LP_BACKEND_FAILED',
          `Cannot read "${path}" in container "${name}": it is larger than ${maxBytes} bytes`,
          { details: { container: name, path } },
        );
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      (archive as Readable).destroy();
      return Buffer.concat(chunks).toString('utf8');
    }
    return undefined;
  }

  #failure(
    what: string,
    error: unknown,
    options: {
      details?: Record<string, unknown>;
      secrets?: readonly string[];
      recovery?: string;
    } = {},
  ): LaunchplaneError {
    if (error instanceof LaunchplaneError) return error;
    const message = redactText(describe(error), options.secrets ?? []);
    if (isUnreachable(error)) {
      return new LaunchplaneError('LP_BACKEND_UNAVAILABLE', `Cannot ${what}: ${message}`, {
        recovery: RECOVERY_UNAVAILABLE,
        ...(options.details === undefined ? {} : { details: options.details }),
        // The cause may echo request bodies; keep it only when nothing secret went in.
        ...(options.secrets?.length ? {} : { cause: error }),
      });
    }
    return new LaunchplaneError('LP_BACKEND_FAILED', `Cannot ${what}: ${message}`, {
      ...(options.recovery === undefined ? {} : { recovery: options.recovery }),
      details: {
        ...options.details,
        ...(statusOf(error) === undefined ? {} : { status: statusOf(error) }),
      },
      ...(options.secrets?.length ? {} : { cause: error }),
    });
  }
}

function statusOf(error: unknown): number | undefined {
  const status = (error as DockerodeError | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function isUnreachable(error: unknown): boolean {
  const code = (error as DockerodeError | null)?.code;
  return statusOf(error) === undefined && typeof code === 'string' && UNREACHABLE_CODES.has(code);
}

function describe(error: unknown): string {
  const e = error as DockerodeError | null;
  const apiMessage = e?.json?.message;
  if (typeof apiMessage === 'string' && apiMessage !== '') return apiMessage;
  if (error instanceof Error) return error.message;
  return String(error);
}
