/**
 * Lanes that follow demand on the Docker backend. Skips locally without the testbed's dockerd;
 * fails under CI=true.
 */
import { describeWithDocker } from '../testbed/require.js';
import { demandSuite } from './demand.js';

describeWithDocker('demand scaling on Docker', (docker) => {
  demandSuite('docker', () => ({ docker: docker() }));
});
