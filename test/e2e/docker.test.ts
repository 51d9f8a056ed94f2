/**
 * The acceptance suite on the Docker backend: lanes are containers of the testbed's private
 * dockerd. Criterion 7c stops a dockerd of its own (never the shared one). Skips locally without
 * Docker; fails under CI=true.
 */
import { describeWithDocker } from '../testbed/require.js';
import { acceptanceSuite } from './acceptance.js';

describeWithDocker('acceptance on Docker', (docker) => {
  acceptanceSuite('docker', () => ({ docker: docker() }));
});
