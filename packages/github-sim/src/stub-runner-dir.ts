import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the stub runner template: a directory with `config.sh`, `run.sh` and
 * dependency-free JS, meant to be copied into a lane's directory (or a `FROM scratch` image).
 */
export function stubRunnerTemplateDir(): string {
  // src/ and dist/ both sit beside stub-runner/ in the package.
  return fileURLToPath(new URL('../stub-runner/', import.meta.url)).replace(/\/$/, '');
}
