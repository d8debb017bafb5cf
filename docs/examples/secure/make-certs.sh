#!/bin/sh
# Makes a test certificate authority and the certificates the secure example uses, into this
# script's folder: ca.pem/ca-key.pem, server.pem/server-key.pem (for 127.0.0.1 and localhost),
# admin.pem/admin-key.pem (CN=admin) and reader.pem/reader-key.pem (CN=reader). Files already
# there are kept, so running it again changes nothing; delete them to make new ones.
# For trying Ferry out only: a real deployment uses certificates from its own authority.
set -eu
cd "$(dirname "$0")"
umask 077
days=825

if [ ! -f ca.pem ] || [ ! -f ca-key.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
    -subj "/O=Ferry example/CN=Ferry example CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null
fi

# issue NAME SUBJECT EXTENSIONS: NAME.pem and NAME-key.pem signed by the CA
issue() {
  [ -f "$1.pem" ] && [ -f "$1-key.pem" ] && return 0
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "$2" -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" -sha256 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

issue server "/O=Ferry example/CN=localhost" \
  "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
for user in admin reader; do
  issue "$user" "/O=Ferry example/CN=$user" \
    "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
subjectAltName=email:$user@example.com"
done
rm -f ca.srl
# the certificates are public; the keys stay readable by their owner only
chmod 644 ca.pem server.pem admin.pem reader.pem
echo "certificates in $(pwd)"
