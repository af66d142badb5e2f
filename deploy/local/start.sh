#!/bin/sh
# One host, eight workers: build octoserve if needed, then start a coordinator with eight local
# worker processes and stream a short story from it once the cluster is up. The coordinator keeps
# serving afterwards (client API on 127.0.0.1:50051) until Ctrl-C.
#
#   deploy/local/start.sh                      # what `npm start` runs
#   deploy/local/start.sh --model ./model.bin --medusa ./medusa-heads
#
# Arguments are passed on to `octoserve launch`; see `octoserve launch --help`.
set -eu

# The repository root, from where this script lives, so it runs from any directory.
# (Arguments keep their meaning: relative paths are relative to where you ran it.)
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)

# Install on first use; turbo rebuilds only the packages whose sources changed.
if [ ! -d "$root/node_modules" ]; then
  (cd "$root" && npm ci --no-audit --no-fund)
fi
# the build log goes to stderr: stdout carries only the story
(cd "$root" && npx turbo run build --output-logs=errors-only >&2)

# exec: Ctrl-C and SIGTERM go straight to the coordinator, which stops its workers.
exec node "$root/packages/cli/dist/main.js" launch --tp 8 --demo 'Once upon a time' "$@"
