#!/usr/bin/env bash
# The dashboard's front-end libraries: installed from the npm registry by `npm ci`, which checks each
# package against the integrity hash in package-lock.json, then copied unmodified to static/vendor/
# (git-ignored) with their licences. Nothing here is edited by hand; bump versions in package.json.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
    echo "vendor-static: npm is needed to install the dashboard's charts and htmx (apt-get install npm)" >&2
    exit 1
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

copy() {  # package, file in the package, destination folder under static/vendor/
    mkdir -p "static/vendor/$3"
    cp "node_modules/$1/$2" "static/vendor/$3/"
}
rm -rf static/vendor
copy htmx.org dist/htmx.min.js htmx
copy htmx.org LICENSE htmx
copy lightweight-charts dist/lightweight-charts.standalone.production.js lightweight-charts
copy lightweight-charts LICENSE lightweight-charts
copy fancy-canvas package.json lightweight-charts/fancy-canvas  # bundled into the chart library (MIT)
# The attribution notice Lightweight Charts' licence asks for (its NOTICE file), shown on the page too.
cat > static/vendor/lightweight-charts/NOTICE <<'NOTICE'
TradingView Lightweight Charts™
Copyright (c) 2026 TradingView, Inc. https://www.tradingview.com/
Licensed under the Apache License, Version 2.0 (see LICENSE beside this file).
NOTICE
echo "vendor-static: htmx $(node -p 'require("./node_modules/htmx.org/package.json").version'), lightweight-charts $(node -p 'require("./node_modules/lightweight-charts/package.json").version') in static/vendor/"
