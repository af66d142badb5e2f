export const PACKAGE = '@octoserve/medusa';
