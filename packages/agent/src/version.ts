/** The agent's version, sent in enrollment and hello. Kept in step with package.json. */
export const AGENT_VERSION = '0.1.0';
