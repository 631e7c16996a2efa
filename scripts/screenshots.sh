#!/usr/bin/env bash
# The README's console screenshots: runs the console's browser tests
# (test/console: as root, with Debian's chromium) with KILN_SCREENSHOTS
# set, so every page they visit is saved at 1280 and 390 px, and keeps a
# few of them in docs/screenshots.
set -euo pipefail
cd "$(dirname "$0")/.."
shots=$(mktemp -d)
trap 'rm -rf "$shots"' EXIT
KILN_SCREENSHOTS="$shots" go test -count=1 -run '^(TestConsole|TestConsoleFirstBuild)$' ./test/console/
mkdir -p docs/screenshots
for page in dashboard component pipeline image recipe-form build; do
  cp "$shots/$page-1280.png" "docs/screenshots/console-$page.png"
done
cp "$shots/pipeline-390.png" docs/screenshots/console-pipeline-phone.png
ls -l docs/screenshots
