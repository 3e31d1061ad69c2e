#!/usr/bin/env bash
# Certificates per second, side by side on this machine, in one go:
#   apimtls bulk (client issue --count), apimtls one process per certificate,
#   the OpenSSL command-line loop doing the same work (new key, sign, files
#   on disk), and step (smallstep) when it is on the PATH; then the Go
#   benchmarks that put bulk issuance beside a bare loop (key, sign, PEM) on
#   the same cores in the same process.
# Usage: bench/fleet.sh [BULK_COUNT] [LOOP_COUNT]     (defaults 2000 200)
# The PKI directories go under $TMPDIR (on disk by default; TMPDIR=/dev/shm
# shows the cost without the file system).
set -euo pipefail
cd "$(dirname "$0")/.."
bulk="${1:-2000}"
loop="${2:-200}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bin="$work/apimtls"
go build -trimpath -o "$bin" .

now_ns() { date +%s%N; }
rate() { awk -v n="$1" -v ns="$2" 'BEGIN { printf "%.0f", n / (ns / 1e9) }'; }
declare -A rates

# apimtls bulk
export APIMTLS_DIR="$work/bulk"
"$bin" ca init >/dev/null
t0=$(now_ns)
"$bin" client issue --count "$bulk" --name-template 'device-{n}' >/dev/null
rates[bulk]=$(rate "$bulk" $(($(now_ns) - t0)))

# apimtls, one process per certificate
export APIMTLS_DIR="$work/single"
"$bin" ca init >/dev/null
t0=$(now_ns)
for i in $(seq "$loop"); do "$bin" client issue "device-$i" >/dev/null; done
rates[single]=$(rate "$loop" $(($(now_ns) - t0)))

# OpenSSL: key and CSR, then the CA signs; files per device, as shell
# scripts on production lines do it
ossl="$work/openssl"
mkdir -p "$ossl"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$ossl/ca.key" -out "$ossl/ca.pem" -subj /CN=bench-root -days 3650 2>/dev/null
printf 'extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' >"$ossl/ext"
t0=$(now_ns)
for i in $(seq "$loop"); do
	d="$ossl/device-$i"
	mkdir "$d"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/key.pem" -subj "/CN=device-$i" -out "$d/csr.pem" 2>/dev/null
	openssl x509 -req -in "$d/csr.pem" -CA "$ossl/ca.pem" -CAkey "$ossl/ca.key" -CAcreateserial -days 365 -sha256 -extfile "$ossl/ext" -out "$d/cert.pem" 2>/dev/null
done
rates[openssl]=$(rate "$loop" $(($(now_ns) - t0)))

# step, when installed
if command -v step >/dev/null; then
	st="$work/step"
	mkdir -p "$st"
	step certificate create bench-root "$st/ca.pem" "$st/ca.key" --profile root-ca --no-password --insecure >/dev/null 2>&1
	t0=$(now_ns)
	for i in $(seq "$loop"); do
		step certificate create "device-$i" "$st/d$i.pem" "$st/d$i.key" --profile leaf --ca "$st/ca.pem" --ca-key "$st/ca.key" --no-password --insecure --kty EC --curve P-256 >/dev/null 2>&1
	done
	rates[step]=$(rate "$loop" $(($(now_ns) - t0)))
fi

printf '%-44s %10s %10s\n' "ECDSA P-256 client certificates" "certs/s" "bulk is"
for k in bulk single openssl step; do
	[ -n "${rates[$k]:-}" ] || { printf '%-44s %10s\n' "$k" "(not on PATH)"; continue; }
	printf '%-44s %10s %9sx\n' "$k" "${rates[$k]}" "$(awk -v a="${rates[bulk]}" -v b="${rates[$k]}" 'BEGIN { printf "%.1f", a / b }')"
done

# Bulk beside the bare Go loop, same cores, same process
echo
go test -run '^$' -bench 'BulkIssue/ecdsa|BareLoop/ecdsa' -benchtime "${bulk}x" ./pki | tee "$work/ec.txt" | grep -E '^Benchmark'
go test -run '^$' -bench 'BulkIssue/rsa|BareLoop/rsa' -benchtime "$((loop))x" ./pki | tee "$work/rsa.txt" | grep -E '^Benchmark'
ratio() { awk '/BulkIssue/ { for (i = 1; i <= NF; i++) if ($i == "certs/s") b = $(i-1) } /BareLoop/ { for (i = 1; i <= NF; i++) if ($i == "certs/s") l = $(i-1) } END { printf "%.2f (bulk %.0f/s, bare %.0f/s)", b / l, b, l }' "$1"; }
echo "ECDSA P-256 bulk / bare loop: $(ratio "$work/ec.txt")   target >= 0.5"
echo "RSA-2048   bulk / bare loop: $(ratio "$work/rsa.txt")"
