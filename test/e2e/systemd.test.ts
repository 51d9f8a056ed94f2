/**
 * The acceptance suite on the systemd backend: lanes are units of the testbed's private systemd
 * user manager. Skips locally without it; fails under CI=true.
 */
import { describeWithSystemd } from '../testbed/require.js';
import { acceptanceSuite } from './acceptance.js';

describeWithSystemd('acceptance on systemd', (systemd) => {
  acceptanceSuite('systemd', () => ({ systemd: systemd() }));
});
