/**
 * Lanes that follow demand on the systemd backend. Skips locally without the testbed's systemd
 * user manager; fails under CI=true.
 */
import { describeWithSystemd } from '../testbed/require.js';
import { demandSuite } from './demand.js';

describeWithSystemd('demand scaling on systemd', (systemd) => {
  demandSuite('systemd', () => ({ systemd: systemd() }));
});
