#!/usr/bin/env bash
# Test certificates for Tern's TLS tests, made with the openssl CLI into OUTDIR.
# Usage: tests/certs/generate.sh OUTDIR
#   ca.crt/key                 test CA ("Tern Test CA")
#   server.crt/key             CN=localhost, SAN DNS:localhost, IP:127.0.0.1, signed by ca;
#                              server.crt holds the chain, leaf first, then ca.crt
#   client.crt/key             CN=client1, extendedKeyUsage clientAuth, signed by ca
#   client2.crt/key            CN=client2, signed by ca (a second identity for ACL tests)
#   other-ca.crt/key           an unrelated CA
#   other-server.crt/key       CN=localhost, signed by other-ca (chain: leaf, other-ca)
#   other-client.crt/key       CN=client1, signed by other-ca
#   expired-server.crt/key     CN=localhost, signed by ca, valid 2020-01-01..2021-01-01
#   expired-client.crt/key     CN=client1, signed by ca, valid 2020-01-01..2021-01-01
#   server-rsa.crt/key         RSA 2048 variant of server.crt/key
# EC P-256 keys (fast), unencrypted PEM, mode 0644 (throwaway keys; a peer such as mosquitto
# may run as another user). Idempotent: every run rewrites every file. Quiet
# unless a step fails (then the openssl output is shown and the exit status is non-zero).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
command -v openssl >/dev/null || { echo "$0: openssl CLI not found" >&2; exit 1; }

out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.gen.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Runs openssl quietly; shows its output only on failure.
ossl() {
  if ! openssl "$@" >"$work/log" 2>&1; then
    echo "$0: openssl $* failed:" >&2
    cat "$work/log" >&2
    exit 1
  fi
}

cat >"$work/ext.cnf" <<'CNF'
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CNF

eckey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# make_ca NAME CN
make_ca() {
  eckey "$work/$1.key"
  ossl req -x509 -new -key "$work/$1.key" -sha256 -days 3650 -subj "/O=Tern Test/CN=$2" \
    -config "$work/ext.cnf" -extensions ca_ext -out "$work/$1.crt"
}

# make_leaf NAME CN CA EXT [keytype]
make_leaf() {
  if [[ ${5:-ec} == rsa ]]; then
    ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/$1.key"
  else
    eckey "$work/$1.key"
  fi
  ossl req -new -key "$work/$1.key" -subj "/O=Tern Test/CN=$2" -out "$work/$1.csr"
  ossl x509 -req -in "$work/$1.csr" -CA "$work/$3.crt" -CAkey "$work/$3.key" \
    -CAcreateserial -sha256 -days 825 -extfile "$work/ext.cnf" -extensions "$4" \
    -out "$work/$1.crt"
}

# make_expired NAME CN EXT: signed by ca with a validity period entirely in the past.
# `openssl x509 -req` (3.0) cannot set notBefore, `openssl ca` can (-startdate/-enddate).
make_expired() {
  eckey "$work/$1.key"
  ossl req -new -key "$work/$1.key" -subj "/O=Tern Test/CN=$2" -out "$work/$1.csr"
  local db="$work/cadb"
  mkdir -p "$db"
  : >"$db/index.txt"
  printf '%s\n' "$(openssl rand -hex 16)" >"$db/serial"
  cat >"$db/ca.cnf" <<CNF
[ca]
default_ca = test_ca
[test_ca]
dir = $db
database = $db/index.txt
serial = $db/serial
new_certs_dir = $db
certificate = $work/ca.crt
private_key = $work/ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
organizationName = optional
commonName = supplied
CNF
  ossl ca -batch -notext -config "$db/ca.cnf" -extfile "$work/ext.cnf" -extensions "$3" \
    -startdate 20200101000000Z -enddate 20210101000000Z -in "$work/$1.csr" \
    -out "$work/$1.crt"
}

make_ca ca "Tern Test CA"
make_ca other-ca "Other Test CA"
make_leaf server localhost ca server_ext
make_leaf client client1 ca client_ext
make_leaf client2 client2 ca client_ext
make_leaf other-server localhost other-ca server_ext
make_leaf other-client client1 other-ca client_ext
make_expired expired-server localhost server_ext
make_expired expired-client client1 client_ext
make_leaf server-rsa localhost ca server_ext rsa

# Chains: leaf first, then the issuing CA.
cat "$work/ca.crt" >>"$work/server.crt"
cat "$work/ca.crt" >>"$work/server-rsa.crt"
cat "$work/other-ca.crt" >>"$work/other-server.crt"

for f in ca other-ca server client client2 other-server other-client expired-server \
         expired-client server-rsa; do
  install -m 0644 "$work/$f.crt" "$out/$f.crt"
  install -m 0644 "$work/$f.key" "$out/$f.key"
done
