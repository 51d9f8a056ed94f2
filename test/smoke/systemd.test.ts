/**
 * `launchplane smoke` end to end on the systemd backend: the smoke lane is a unit of the
 * testbed's private systemd user manager. Skips locally without it; fails under CI=true.
 */
import { describeWithSystemd } from '../testbed/require.js';
import { smokeSuite } from './smoke-suite.js';

describeWithSystemd('launchplane smoke on systemd', (systemd) => {
  smokeSuite('systemd', () => ({ systemd: systemd() }), { workflow: true, failure: true });
});
