// @octoserve/testkit: what the test suites of several packages share. Not used by any command.
export { findTestModel, findSharedModels, sharedModelsDir, loadGoldenCases, type TestModel, type GoldenCase } from './test-model.js';
export { llama2cTokenizerBytes, llama2cBasePieces, tempDirWith, TINY, tinyHfTokenizerJson } from './tokenizer-fixtures.js';
export { makeTestPki, type TestPki } from './pki.js';
export { runCli, MAIN_JS, type CliResult } from './cli-run.js';
export { closedPort } from './ports.js';
