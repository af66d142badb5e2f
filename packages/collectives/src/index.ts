export const PACKAGE = '@octoserve/collectives';
