/** A runner label as GitHub returns it. */
export interface RunnerLabel {
  name: string;
  type: 'read-only' | 'custom';
}

/** The labels GitHub gives a Linux x64 runner unless it registered with `--no-default-labels`. */
export const DEFAULT_LABELS: readonly string[] = ['self-hosted', 'Linux', 'X64'];

/** GitHub compares label names without regard to case. */
export function sameLabel(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Why a label name would be refused, or `null` when it is acceptable. */
export function labelProblem(name: string): string | null {
  if (name.trim() === '') return 'label names must not be empty';
  if (name.length > 256) return `label "${name.slice(0, 32)}…" is longer than 256 characters`;
  if (name.includes(',')) return `label "${name}" must not contain a comma`;
  return null;
}

/** Initial labels of a new runner: read-only defaults (unless suppressed) then custom ones. */
export function initialLabels(custom: readonly string[], noDefaultLabels: boolean): RunnerLabel[] {
  const base = noDefaultLabels
    ? []
    : DEFAULT_LABELS.map((name) => ({ name, type: 'read-only' as const }));
  return addCustom(base, custom);
}

/** Adds custom labels, skipping any name the runner already carries. */
export function addCustom(labels: readonly RunnerLabel[], names: readonly string[]): RunnerLabel[] {
  const out = [...labels];
  for (const name of names) {
    if (!out.some((l) => sameLabel(l.name, name))) out.push({ name, type: 'custom' });
  }
  return out;
}

/** Replaces every custom label with `names`; read-only labels stay. */
export function setCustom(labels: readonly RunnerLabel[], names: readonly string[]): RunnerLabel[] {
  return addCustom(
    labels.filter((l) => l.type === 'read-only'),
    names,
  );
}

/** Result of removing one label by name. */
export type RemoveLabelResult =
  { ok: true; labels: RunnerLabel[] } | { ok: false; reason: 'absent' | 'read-only' };

/** Removes the custom label `name`; a read-only label cannot be removed. */
export function removeCustom(labels: readonly RunnerLabel[], name: string): RemoveLabelResult {
  const hit = labels.find((l) => sameLabel(l.name, name));
  if (hit === undefined) return { ok: false, reason: 'absent' };
  if (hit.type === 'read-only') return { ok: false, reason: 'read-only' };
  return { ok: true, labels: labels.filter((l) => l !== hit) };
}

/** GitHub routes a job to a runner only if every label the job asks for is on the runner. */
export function satisfies(
  runnerLabels: readonly RunnerLabel[],
  wanted: readonly string[],
): boolean {
  return wanted.every((w) => runnerLabels.some((l) => sameLabel(l.name, w)));
}
