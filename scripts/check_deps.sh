#!/usr/bin/env bash
# The architecture's arrows, checked on the real dependency graph (DESIGN.md section 2):
# correlation knows nothing of HTTP, OpenTelemetry or tokio; no exporter knows another.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
deps() { cargo tree -p "$1" -e normal --prefix none --format '{p}' 2>/dev/null | awk '{print $1}' | sort -u; }
forbid() {
    local crate=$1
    shift
    cargo metadata --no-deps --format-version 1 2>/dev/null | grep -q "\"name\":\"$crate\"" || return 0
    local found
    found=$(deps "$crate" | grep -E -x "$(IFS='|'; echo "$*")" || true)
    if [ -n "$found" ]; then
        echo "error: $crate must not depend on: $(echo $found)"
        fail=1
    else
        echo "ok: $crate depends on none of: $*"
    fi
}

forbid tracing-insights-correlation 'reqwest' 'ureq' 'hyper' 'tokio' 'opentelemetry.*' 'tonic' 'prost'
forbid tracing-insights-appinsights 'tracing-insights-otlp' 'tracing-insights-live-metrics' 'opentelemetry.*'
forbid tracing-insights-live-metrics 'tracing-insights-otlp' 'tracing-insights-appinsights' 'opentelemetry.*'
forbid tracing-insights-otlp 'tracing-insights-appinsights' 'tracing-insights-live-metrics' 'tracing-insights-azure' 'tracing-opentelemetry'
# The HTTP layers: correlation, http, tower and (feature) reqwest-middleware; no exporter, no OpenTelemetry.
forbid tracing-insights-http 'tracing-insights-export' 'tracing-insights-azure' 'tracing-insights-appinsights' 'tracing-insights-live-metrics' 'tracing-insights-otlp' 'tracing-insights-presets' 'opentelemetry.*' 'tracing-opentelemetry'
# The OpenTelemetry bridge: appinsights, export, correlation, opentelemetry, opentelemetry_sdk;
# no other exporter; tracing-opentelemetry and live-metrics (a Live Metrics feed) only behind
# their features.
forbid tracing-insights-opentelemetry 'tracing-insights-otlp' 'tracing-insights-live-metrics' 'tracing-insights-http' 'tracing-opentelemetry' 'opentelemetry-proto'
exit $fail
