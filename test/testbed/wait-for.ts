/** `waitFor` lives in the test kit (`@launchplane/testkit/wait`); the testbed's suites take it from here. */
export { waitFor, type WaitForOptions } from '@launchplane/testkit/wait';
