#!/usr/bin/env bash
# Development-only PKI for the broker's TLS listener: a throwaway CA and a server certificate signed by it.
#
#   deploy/tls/make-dev-ca.sh OUT_DIR [SERVER_NAME ...]
#
# Writes OUT_DIR/ca.crt, ca.key, server.crt, server.key (keys mode 600). SERVER_NAMEs become subjectAltNames
# (default: localhost and 127.0.0.1). Idempotent: an existing CA is reused, the server certificate re-issued.
# NEVER use this CA in production: its key sits unencrypted on disk. See docs/security.md ("TLS").
set -euo pipefail
OUT=${1:?usage: make-dev-ca.sh OUT_DIR [SERVER_NAME ...]}
shift || true
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(localhost 127.0.0.1)
# Short lives: a leaked development key is useless within months; the CA outlives a few server certificates.
CA_DAYS=${CA_DAYS:-365}
SERVER_DAYS=${SERVER_DAYS:-90}
mkdir -p "$OUT"
umask 077
san=""
for n in "${NAMES[@]}"; do
  if [[ "$n" =~ ^[0-9.]+$ || "$n" == *:* ]]; then san+="IP:$n,"; else san+="DNS:$n,"; fi
done
san=${san%,}
if [ ! -f "$OUT/ca.key" ] || [ ! -f "$OUT/ca.crt" ]; then
  # P-256: every MQTT TLS stack supports it, and it is far cheaper on small devices than RSA-3072.
  openssl ecparam -name prime256v1 -genkey -noout -out "$OUT/ca.key"
  openssl req -x509 -new -key "$OUT/ca.key" -sha256 -days "$CA_DAYS" -subj "/CN=quietfix development CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$OUT/ca.crt" 2>/dev/null
fi
openssl ecparam -name prime256v1 -genkey -noout -out "$OUT/server.key"
openssl req -new -key "$OUT/server.key" -subj "/CN=${NAMES[0]}" -out "$OUT/server.csr" 2>/dev/null
ext=$(mktemp)
trap 'rm -f "$ext" "$OUT/server.csr"' EXIT
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
  "$san" > "$ext"
openssl x509 -req -in "$OUT/server.csr" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" -CAcreateserial \
  -days "$SERVER_DAYS" -sha256 -extfile "$ext" -out "$OUT/server.crt" 2>/dev/null
chmod 644 "$OUT/ca.crt" "$OUT/server.crt"
echo "$OUT"
