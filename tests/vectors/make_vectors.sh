#!/bin/sh
# Regenerate the CSR test vectors in this directory with the openssl CLI.
#
# The vectors are CSRs that hostca must reject or parse in a particular way. They
# come from openssl rather than from cryptography so that the tests see requests
# made by a second, independent implementation. The private keys are temporary and
# deleted at the end, because no test needs them. README.md lists each command.
#
# Usage: sh tests/vectors/make_vectors.sh   (needs OpenSSL 3 and xxd)
set -eu

cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Key types that hostca rejects.
openssl genpkey -quiet -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 -out "$work/dsa.params"
openssl genpkey -quiet -paramfile "$work/dsa.params" -out "$work/dsa.key"
openssl req -new -key "$work/dsa.key" -subj "/CN=dsa.example.test" -sha256 -out dsa-2048.csr.pem

openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$work/rsa1024.key"
openssl req -new -key "$work/rsa1024.key" -subj "/CN=rsa1024.example.test" -sha256 -out rsa-1024.csr.pem

openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out "$work/secp256k1.key"
openssl req -new -key "$work/secp256k1.key" -subj "/CN=k1.example.test" -sha256 -out ec-secp256k1.csr.pem

openssl genpkey -quiet -algorithm ED448 -out "$work/ed448.key"
openssl req -new -key "$work/ed448.key" -subj "/CN=ed448.example.test" -out ed448.csr.pem

# Requests with an accepted key whose content hostca must reject or read carefully.
openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/p256.key"
openssl req -new -key "$work/p256.key" -subj "/CN=ca.example.test" -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -out ca-true.csr.pem

openssl req -new -key "$work/p256.key" -subj "/CN=cn-only.example.test" -sha256 -out cn-only.csr.pem

openssl req -new -key "$work/p256.key" -subj "/CN=ignored-cn.example.test" -sha256 \
    -addext "subjectAltName=DNS:web-01.example.test,IP:192.0.2.10,DNS:web-01,IP:2001:db8::10" \
    -addext "keyUsage=critical,keyCertSign" \
    -out san-dns-ip.csr.pem

openssl req -new -key "$work/p256.key" -subj "/O=No Name Inc" -sha256 -out no-name.csr.pem

# A CSR signed with SHA-1, a hash too weak for proof of possession.
openssl req -new -key "$work/p256.key" -subj "/CN=sha1.example.test" -sha1 -out sha1-signature.csr.pem

# The Ed448 CSR in DER with its key algorithm OID 1.3.101.113 (06 03 2b 65 71)
# changed to 1.3.101.127, which neither OpenSSL 3.0 nor cryptography 50 decodes.
# sed without the g flag changes only the first match: the key algorithm comes
# before the signature algorithm, which is Ed448 as well.
openssl req -in ed448.csr.pem -outform DER |
    xxd -p | tr -d '\n' | sed 's/300506032b6571/300506032b657f/' | xxd -r -p > unknown-key-algorithm.csr.der

# A valid RSA-2048 CSR in DER, then the same bytes with one bit of the signature
# flipped. The signature BIT STRING is the last field of the DER encoding, so the
# last byte of the file is a signature byte.
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa2048.key"
openssl req -new -key "$work/rsa2048.key" -subj "/CN=rsa2048.example.test" -sha256 \
    -outform DER -out rsa-2048.csr.der
cp rsa-2048.csr.der bad-signature.csr.der
size=$(wc -c < bad-signature.csr.der)
last=$(od -An -tu1 -j $((size - 1)) -N1 bad-signature.csr.der | tr -d ' ')
printf "$(printf '\\%03o' $((last ^ 1)))" |
    dd of=bad-signature.csr.der bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
