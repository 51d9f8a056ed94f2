/**
 * What a Docker lane may run and how it may reach the network: image references, the host's
 * allowlists of images (by repository or by digest) and network modes, and the network modes a
 * policy may name at all. Parsing of image references follows Docker's own grammar
 * (`@swimlane/docker-reference`, a port of docker/distribution's `reference` package).
 */
import { parseFamiliarName } from '@swimlane/docker-reference';
import { z } from 'zod';

/** The network mode of a Docker lane when its pool names none. */
export const DEFAULT_DOCKER_NETWORK = 'bridge';

/** An image reference, canonical: `docker.io/library/ubuntu`, with its tag and digest if any. */
export interface ImageReference {
  /** Registry and path, e.g. `ghcr.io/actions/actions-runner`, `docker.io/library/ubuntu`. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

/** Parses an image reference the way `docker run` reads it; a reason when it is not one. */
export function parseImageReference(text: string): ImageReference | { error: string } {
  if (text.length === 0 || text.length > 512) return { error: 'must be 1 to 512 characters' };
  try {
    const r = parseFamiliarName(text);
    return {
      repository: r.repositoryUrl,
      ...(r.tag === undefined ? {} : { tag: r.tag }),
      ...(r.digest === undefined ? {} : { digest: r.digest }),
    };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** A pool's `docker.image`: a valid image reference. */
export const imageReferenceSchema = z
  .string()
  .min(1)
  .max(512)
  .superRefine((text, ctx) => {
    const r = parseImageReference(text);
    if ('error' in r)
      ctx.addIssue({ code: 'custom', message: `not an image reference: ${r.error}` });
  });

/**
 * An entry of the host's image allowlist: a repository (any tag or digest of it, e.g.
 * `ghcr.io/actions/actions-runner`) or one digest of a repository (`repo@sha256:…`). A tag is
 * refused: it can be moved to other content.
 */
export const imageAllowEntrySchema = z
  .string()
  .min(1)
  .max(512)
  .superRefine((text, ctx) => {
    const r = parseImageReference(text);
    if ('error' in r) {
      ctx.addIssue({ code: 'custom', message: `not an image reference: ${r.error}` });
    } else if (r.tag !== undefined && r.digest === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `names tag "${r.tag}", which can be moved to other content: allow the repository ("${text.slice(0, text.lastIndexOf(':'))}") or pin a digest ("…@sha256:…")`,
      });
    }
  });

/**
 * A network mode a lane may use: `bridge`, `host`, `none` or a user-defined network. Joining
 * another container's network namespace (`container:<name>`) is never allowed: a job would sit
 * inside another lane's (or any container's) network.
 */
export const dockerNetworkSchema = z
  .string()
  .min(1)
  .max(128)
  .superRefine((text, ctx) => {
    if (text.startsWith('container:')) {
      ctx.addIssue({
        code: 'custom',
        message: `"${text.slice(0, 64)}" would join another container's network namespace: not allowed`,
      });
    } else if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(text)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be "bridge", "host", "none" or the name of a user-defined network',
      });
    }
  });

/** The host's Docker consent (agent config `optIn.docker`). */
export const dockerOptInSchema = z.strictObject({
  /** Images lanes may run, by repository or digest; empty: no Docker lane at all. */
  images: z.array(imageAllowEntrySchema).max(200).default([]),
  /** Network modes lanes may use; `host` and user-defined networks only when listed. */
  networks: z.array(dockerNetworkSchema).max(50).default([DEFAULT_DOCKER_NETWORK]),
});
export type DockerOptIn = z.infer<typeof dockerOptInSchema>;

/**
 * Whether `image` is in the allowlist. `localDigests` are the digests the local image is known by
 * (Docker's `RepoDigests`, `repo@sha256:…`): a digest entry matches an image pulled by that
 * digest, whatever tag the pool names. Without them, a digest entry matches only a reference
 * that carries that digest.
 */
export function imageAllowed(
  image: string,
  allowlist: readonly string[],
  localDigests: readonly string[] = [],
): boolean {
  const ref = parseImageReference(image);
  if ('error' in ref) return false;
  const local = new Set(
    localDigests.flatMap((d) => {
      const r = parseImageReference(d);
      return 'error' in r || r.digest === undefined ? [] : [`${r.repository}@${r.digest}`];
    }),
  );
  return allowlist.some((entry) => {
    const allowed = parseImageReference(entry);
    if ('error' in allowed || allowed.repository !== ref.repository) return false;
    if (allowed.digest === undefined) return allowed.tag === undefined;
    return ref.digest === allowed.digest || local.has(`${allowed.repository}@${allowed.digest}`);
  });
}

/** Whether an image of `image`'s repository could be allowed at all (for planning). */
export function imageRepositoryListed(image: string, allowlist: readonly string[]): boolean {
  const ref = parseImageReference(image);
  if ('error' in ref) return false;
  return allowlist.some((entry) => {
    const allowed = parseImageReference(entry);
    return !('error' in allowed) && allowed.repository === ref.repository;
  });
}
