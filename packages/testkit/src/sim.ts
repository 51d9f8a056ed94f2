/**
 * The GitHub simulator as the worlds see it: its REST and control API called with a token, and
 * the shapes it answers with. Names shared by every world are here too.
 */

/** The repository the worlds' pools serve. */
export const REPO = 'acme/api';
/** What every lane's systemd unit and Docker container name starts with. */
export const LANE_PREFIX = 'launchplane-lane-';

/** A runner as the simulator's public REST API shows it. */
export interface SimRunner {
  id: number;
  name: string;
  status: string;
  busy: boolean;
  labels: { name: string; type?: string }[];
}

/** A job of the simulator's control API. */
export interface SimJob {
  id: number;
  status: string;
  conclusion: string | null;
  runnerId: number | null;
  runnerName: string | null;
  startedAt: number | null;
  completedAt: number | null;
}

/** A JSON request to the simulator at `simUrl` with `token`; throws on a non-2xx answer. */
export function simJsonClient(
  simUrl: string,
  token: string,
): <T>(method: string, path: string, body?: unknown) => Promise<T> {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${simUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/vnd.github+json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };
}
