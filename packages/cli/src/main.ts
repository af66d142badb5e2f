#!/usr/bin/env node
console.log("octoserve");
