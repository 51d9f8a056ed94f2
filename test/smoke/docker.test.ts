/**
 * `launchplane smoke` end to end on the Docker backend: the smoke lane is a container of the
 * testbed's private dockerd, running the image of the policy's Docker pool, and the workflow's job
 * runs in it. Skips locally without Docker; fails under CI=true.
 */
import { describeWithDocker } from '../testbed/require.js';
import { smokeSuite } from './smoke-suite.js';

describeWithDocker('launchplane smoke on Docker', (docker) => {
  smokeSuite('docker', () => ({ docker: docker() }), { workflow: true, failure: false });
});
