#!/usr/bin/env bash
# Whole-process time of `apimtls truststore validate` on the 1,000-certificate
# bundle just under 1 MB, beside OpenSSL merely reading the same file.
# Usage: bench/truststore.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
bin="$(mktemp -d)/apimtls"
go build -trimpath -o "$bin" .
file=testdata/truststore/bench-1000.pem

# mean wall time of a command over $runs runs, in milliseconds
mean_ms() {
	local start end
	"$@" >/dev/null 2>&1 || true # warm the page cache
	start=$(date +%s%N)
	for _ in $(seq "$runs"); do "$@" >/dev/null 2>&1 || true; done
	end=$(date +%s%N)
	awk -v ns=$((end - start)) -v n="$runs" 'BEGIN { printf "%.1f ms\n", ns / n / 1e6 }'
}

printf '%-60s %s\n' "file" "$(wc -c <"$file") bytes, $(grep -c 'BEGIN CERTIFICATE' "$file") certificates"
printf '%-60s %s\n' "apimtls truststore validate" "$(mean_ms "$bin" truststore validate "$file")"
printf '%-60s %s\n' "apimtls truststore validate --verify-signatures" "$(mean_ms "$bin" truststore validate --verify-signatures "$file")"
printf '%-60s %s\n' "openssl crl2pkcs7 -nocrl -certfile F | openssl pkcs7 -print_certs -noout" \
	"$(mean_ms bash -c "openssl crl2pkcs7 -nocrl -certfile $file | openssl pkcs7 -print_certs -noout")"
printf '%-60s %s\n' "apimtls --version (start-up)" "$(mean_ms "$bin" --version)"
