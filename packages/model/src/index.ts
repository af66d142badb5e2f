export const PACKAGE = '@octoserve/model';
