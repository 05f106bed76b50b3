// Tests are compiled by `tsc` with the rest of the project (npm test's pretest step) and run
// as native ES modules, so worker threads and child processes load the same JS the service runs.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/dist/test'],
  testMatch: ['**/*.test.js'],
  testTimeout: 60000,
  maxWorkers: 1,
  transform: {},
  // The S3-compatible store (Swift) the S3 suites talk to: started when not already running.
  globalSetup: '<rootDir>/dist/test/helpers/global-setup.js',
  globalTeardown: '<rootDir>/dist/test/helpers/global-teardown.js',
};
