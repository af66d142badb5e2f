export const PACKAGE = '@octoserve/worker';
