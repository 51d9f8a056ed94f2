/**
 * Registers the server-side commands (C1): `serve`, `token create|revoke`, `enroll-token create`,
 * `hosts [revoke]`, `policy apply`, `audit`. program.ts calls {@link registerServerCommands}.
 */
import type { Command } from 'commander';
import type { RouteFactory } from '../main.js';
import { auditCommand } from './audit.js';
import { clientFrom, withConnection, type ConnectionOptions } from './connection.js';
import { enrollTokenCreate } from './enroll-token-create.js';
import { hostsList, hostsRevoke } from './hosts.js';
import type { CliIo } from './output.js';
import { policyApply } from './policy-apply.js';
import { tokenCreate, tokenRevoke } from './token-create.js';

type Json = { json: boolean };

/** What the registrations need from program.ts. */
export interface ServerCommandContext {
  io: CliIo;
  /** Records the exit status of the command that ran. */
  setStatus: (status: number) => void;
  /** The `policy` command group (shared with `policy validate`). */
  policy: Command;
  /** Route factories `serve` mounts besides the admin API (the control API). */
  routes?: RouteFactory[];
}

/** Adds the server-side commands to `program`. */
export function registerServerCommands(program: Command, ctx: ServerCommandContext): void {
  const { io, setStatus } = ctx;

  program
    .command('serve')
    .description('Run the coordinator')
    .requiredOption('--config <file>', 'coordinator.yaml')
    .action(async (o: { config: string }) => {
      // The server is loaded only here: the other commands start without it.
      const { serve } = await import('./serve.js');
      setStatus(
        await serve(io, { config: o.config, ...(ctx.routes ? { routes: ctx.routes } : {}) }),
      );
    });

  const token = program.command('token').description('Operator tokens (admin)');
  withConnection(
    token
      .command('create')
      .description('Create an operator token; it is printed once')
      .requiredOption('--role <role>', 'viewer, operator or admin')
      .option('--name <name>', 'a name to recognise it by')
      .option('--json', 'print one JSON document', false),
  ).action(async (o: ConnectionOptions & Json & { role: string; name?: string }) => {
    setStatus(await tokenCreate(io, clientFrom(o), { role: o.role, name: o.name, json: o.json }));
  });
  withConnection(
    token
      .command('revoke')
      .description('Revoke an operator token by id')
      .argument('<id>', 'token id')
      .option('--json', 'print one JSON document', false),
  ).action(async (id: string, o: ConnectionOptions & Json) => {
    setStatus(await tokenRevoke(io, clientFrom(o), { id, json: o.json }));
  });

  const enrollToken = program.command('enroll-token').description('Host enrollment tokens (admin)');
  withConnection(
    enrollToken
      .command('create')
      .description('Create a single-use enrollment token for one host')
      .requiredOption('--host <hostId>', 'the host id it is bound to')
      .option('--ttl <duration>', 'lifetime, at most 60m', '15m')
      .option('--json', 'print one JSON document', false),
  ).action(async (o: ConnectionOptions & Json & { host: string; ttl: string }) => {
    const client = clientFrom(o);
    const url = o.url ?? process.env.LAUNCHPLANE_URL ?? '';
    setStatus(await enrollTokenCreate(io, client, { host: o.host, ttl: o.ttl, json: o.json, url }));
  });

  const hosts = withConnection(
    program
      .command('hosts')
      .description('Enrolled hosts: connected, last seen, opt-in, lanes')
      .option('--json', 'print one JSON document', false),
  ).action(async (o: ConnectionOptions & Json) => {
    setStatus(await hostsList(io, clientFrom(o), { json: o.json }));
  });
  withConnection(
    hosts
      .command('revoke')
      .description('Revoke a host; its live session closes at once')
      .argument('<hostId>', 'host id')
      .option('--json', 'print one JSON document', false),
  ).action(async (host: string, _o: unknown, cmd: Command) => {
    // `hosts` has the same options; commander gives them to whichever comes first.
    const o = cmd.optsWithGlobals<ConnectionOptions & Json>();
    setStatus(await hostsRevoke(io, clientFrom(o), { host, json: o.json }));
  });

  withConnection(
    ctx.policy
      .command('apply')
      .description('Store a new policy version (audited, with digest)')
      .argument('<file>', 'policy YAML file')
      .option('--dry-run', 'validate and report without storing', false)
      .option('--json', 'print one JSON document', false),
  ).action(async (file: string, o: ConnectionOptions & Json & { dryRun: boolean }) => {
    setStatus(await policyApply(io, clientFrom(o), { file, dryRun: o.dryRun, json: o.json }));
  });

  withConnection(
    program
      .command('audit')
      .description('Audit records')
      .option('--host <hostId>', 'only this host')
      .option('--lane <laneId>', 'only this lane')
      .option('--since <time>', 'a duration ago (1h), an ISO date or Unix seconds')
      .option('--follow', 'keep printing new records', false)
      .option('--json', 'print JSON (one line per record with --follow)', false),
  ).action(
    async (
      o: ConnectionOptions &
        Json & { host?: string; lane?: string; since?: string; follow: boolean },
    ) => {
      const abort = new AbortController();
      const stop = () => abort.abort();
      if (o.follow) process.once('SIGINT', stop);
      try {
        setStatus(
          await auditCommand(io, clientFrom(o), {
            host: o.host,
            lane: o.lane,
            since: o.since,
            follow: o.follow,
            json: o.json,
            signal: abort.signal,
          }),
        );
      } finally {
        process.off('SIGINT', stop);
      }
    },
  );
}
