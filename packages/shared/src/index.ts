/**
 * `@launchplane/shared`: the contract between the coordinator, the agent and their operators.
 * Pure code only: schemas, canonical names, the lane state machine, signing, errors.
 */
export * from './errors.js';
export * from './names.js';
export * from './runner-ownership.js';
export * from './lane-state.js';
export * from './clock.js';
export * from './backoff.js';
export * from './coalesce.js';
export * from './listeners.js';
export * from './retry.js';
export * from './steps.js';
export * from './protocol.js';
export * from './docker-lane.js';
export * from './yaml-config.js';
export * from './policy.js';
export * from './agent-config.js';
export * from './plan.js';
export * from './base64url.js';
export * from './strict-json.js';
export * from './canonical-json.js';
export * from './keys.js';
export * from './jws.js';
export * from './command-signing.js';
export * from './report-signing.js';
export * from './hello.js';
export * from './enroll-handshake.js';
export * from './tls-pin.js';
export * from './audit-chain.js';
export * from './replay-guard.js';
export * from './cli-output.js';
export * from './redact.js';
